import EventoCore
@testable import EventoFunctions
import Foundation
import Logging
import Synchronization
import Testing

/// Log records kept in memory, for tests that check what was logged and at which level.
final class RecordedLogs: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
    }
    private let records = Mutex<[Record]>([])
    var all: [Record] { records.withLock { $0 } }
    func append(_ r: Record) { records.withLock { $0.append(r) } }

    var logger: Logger {
        Logger(label: "evento-test") { _ in Handler(logs: self) }
    }

    struct Handler: LogHandler {
        let logs: RecordedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { logs.append(Record(level: event.level, message: "\(event.message)")) }
    }
}

/// How process workers stop (issue 15, part 5): a graceful stop is not a warning.
@Suite struct WorkerShutdownTests {
    @Test func workersGetEndOfFileAndTimeToExitAndAStopIsNotAWarning() async throws {
        let logs = RecordedLogs()
        // Each worker needs a second after end-of-file to finish (more than the half second it used to get).
        let pool = ProcessPool(
            function: "slow-exit", command: ["sh", "-c", "cat >/dev/null; sleep 1"], workers: 2, environment: [:], workingDirectory: nil,
            logger: logs.logger)
        try await pool.start(verify: true)
        #expect(pool.pids.count == 2)
        await pool.shutdown()
        let records = logs.all
        #expect(!records.contains { $0.level >= .warning }, "\(records.filter { $0.level >= .warning }.map(\.message))")
        let stops = records.filter { $0.message.hasPrefix("function worker stopped") }.map(\.message)
        #expect(stops == ["function worker stopped: exited with status 0", "function worker stopped: exited with status 0"], "\(records.map(\.message))")
    }

    @Test func aWorkerThatIgnoresEndOfFileIsTerminatedAndThatIsAWarning() async throws {
        let logs = RecordedLogs()
        let pool = ProcessPool(
            function: "deaf", command: ["python3", "-c", "import sys, time; sys.stdin.read(); time.sleep(30)"], workers: 1, environment: [:], workingDirectory: nil,
            logger: logs.logger)
        try await pool.start(verify: true)
        let started = ContinuousClock.now
        await pool.shutdown()
        #expect(ContinuousClock.now - started < .seconds(4))
        #expect(logs.all.contains { $0.level == .warning && $0.message.contains("did not exit within 2.0 seconds of end-of-file") },
                "\(logs.all.map(\.message))")
    }
}

/// Container replicas stop at once (issue 15, part 5): they run under an init that passes SIGTERM on.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/podman"), "podman is installed"))
struct ContainerStopTests {
    @Test func aReplicaWhoseProgramIgnoresSIGTERMAsPID1StopsWithoutTheEnginesTimeout() async throws {
        let engine = ContainerEngine.detect(instance: "test-" + Identifiers.uuidV7().suffix(8).lowercased(), environment: ["PATH": "/usr/bin:/bin:/usr/sbin:/sbin"])
        // A Python process that never handles SIGTERM (as PID 1 nothing would end it), as in ContainerTests.
        let image = "localhost/evento-test-mute:1"
        if !(try await engine.imageExists(image)) {
            let context = NSTemporaryDirectory() + "evento-mute-" + Identifiers.uuidV7()
            try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
            try "FROM localhost/evento-python:1\nCMD [\"python3\", \"-c\", \"import time; time.sleep(3600)\"]\n"
                .write(toFile: context + "/Containerfile", atomically: true, encoding: .utf8)
            let built = try await engine.run(["build", "-q", "--network", "host", "-t", image, context])
            try #require(built.succeeded, "\(built.tail(3))")
        }
        let name = "evento-stop-test-" + Identifiers.uuidV7().suffix(8).lowercased()
        let id = try await engine.start(name: name, image: image, labels: [:], environment: [:], extra: ["--network", "host"])
        // `run -d` returns once the init runs, maybe before it has started the program: a SIGTERM then
        // has no one to reach (seen once in CI: the stop took the full 10 s).
        try await eventually(timeout: .seconds(20), "the program runs under the init") {
            try await engine.run(["top", id, "args"]).output.contains("time.sleep")
        }
        let started = ContinuousClock.now
        let stopped = try await engine.run(["stop", "-t", "10", id])
        let took = ContinuousClock.now - started
        // How it ended, not how long podman took (a loaded CI run took 17 s to stop a container): ended by
        // the SIGTERM the init passed on, Python exits with 143 (128 + 15); killed at the engine's timeout,
        // with 137.
        let exit = try await engine.run(["inspect", "--format", "{{.State.ExitCode}}", id])
        await engine.remove([id])
        #expect(stopped.succeeded, "\(stopped.tail(3))")
        #expect(exit.output.trimmingCharacters(in: .whitespacesAndNewlines) == "143", "exit code \(exit.output) after \(took): SIGTERM did not reach the program")
    }
}
