import EventoCore
@testable import EventoFunctions
import Foundation
import Logging
import Testing

/// The process transport in this process, without a server: races and signals that an HTTP-level test
/// cannot arrange.
@Suite(.serialized) struct ProcessPoolTests {
    static let logger = Logger(label: "evento-test")

    /// A worker that reads stdin until end-of-file and then exits.
    static func catWorker(onExit: @escaping @Sendable (Worker) -> Void = { _ in }) throws -> Worker {
        try Worker(function: "cat", command: ["cat"], environment: [:], workingDirectory: nil, logger: logger, onExit: onExit)
    }

    @Test func callsWaitingForAWorkerAreResumedOnceWhenThePoolShutsDown() async throws {
        // A pool without workers: every call waits in acquire() until shutdown() fails it. Racing the two
        // many times over finds a continuation resumed twice (a crash) if there is one.
        for _ in 0..<3000 {
            let pool = ProcessPool(function: "none", command: ["true"], workers: 0, environment: [:], workingDirectory: nil, logger: Self.logger)
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        await #expect(throws: FunctionCallError.self) { try await pool.call(Array("{}".utf8), timeout: .seconds(30)) }
                    }
                }
                group.addTask { await pool.shutdown() }
            }
        }
    }

    @Test func aWorkerWhoseProcessWasReapedSignalsNothingEvenWhenItsPidIsReused() async throws {
        let exited = AsyncStream<Void>.makeStream()
        let worker = try Self.catWorker { _ in exited.continuation.yield() }
        let pid = worker.pid
        worker.kill()
        for await _ in exited.stream { break }
        #expect(!worker.isAlive)

        // Have the kernel hand the worker's pid to a new process (pids are allocated after ns_last_pid;
        // posix_spawn starts no thread that could take it first).
        var victim: pid_t?
        for _ in 0..<20 {
            guard (try? "\(pid - 1)".write(toFile: "/proc/sys/kernel/ns_last_pid", atomically: false, encoding: .utf8)) != nil else { break }
            let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
            defer { close(devNull) }
            guard case .success(let child) = spawnProcess(["sleep", "30"], environment: [:], stdin: devNull, stdout: devNull, stderr: devNull)
            else { break }
            if child == pid {
                victim = child
                break
            }
            Foundation.kill(child, SIGKILL)
            var status: Int32 = 0
            waitpid(child, &status, 0)
        }
        guard let victim else {
            withKnownIssue("could not arrange for pid \(pid) to be reused (ns_last_pid not writable, or a busy machine)") {
                Issue.record("pid reuse not arranged")
            }
            return
        }
        defer {
            Foundation.kill(victim, SIGKILL)
            var status: Int32 = 0
            waitpid(victim, &status, 0)
        }
        worker.kill()
        worker.terminate()
        try await Task.sleep(for: .milliseconds(200))
        var status: Int32 = 0
        #expect(waitpid(victim, &status, WNOHANG) == 0, "the stale worker signalled pid \(pid), which belongs to another process now")
    }
}
