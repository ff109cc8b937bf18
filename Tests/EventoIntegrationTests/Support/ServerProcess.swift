import EventoCore
import EventoHTTP
import Foundation
import Testing

/// Locates the `evento` binary that `swift build` produced next to the test bundle.
enum Binaries {
    static var evento: String {
        if let override = ProcessInfo.processInfo.environment["EVENTO_BINARY"] { return override }
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("evento").path,
            packageRoot + "/.build/debug/evento",
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates.last!
    }

    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
    }
}

/// A real `evento serve` process on a free port, with its own data directory.
final class ServerProcess: @unchecked Sendable {
    // @unchecked: mutated only by the test that owns it, sequentially.
    let dataDirectory: String
    private(set) var process: ChildProcess?
    private(set) var baseURL = ""
    private(set) var port = 0
    private let extraArguments: [String]
    private let environment: [String: String]
    let client = HTTPClient()
    private var logPath: String { dataDirectory + "/server.log" }

    /// - Parameter strictSchemas: without it the server accepts aggregates that have no schema
    ///   (`--allow-schemaless`), which most tests use; the bank's schemas in schemas/ apply either way.
    init(arguments: [String] = [], environment: [String: String] = [:], dataDirectory: String? = nil, strictSchemas: Bool = false) async throws {
        self.environment = environment
        self.dataDirectory = dataDirectory ?? NSTemporaryDirectory() + "evento-it-" + Identifiers.uuidV7()
        extraArguments = arguments + (strictSchemas ? [] : ["--allow-schemaless"])
        try FileManager.default.createDirectory(atPath: self.dataDirectory, withIntermediateDirectories: true)
        try await start()
    }

    /// Starts the server (again) on the same data directory.
    func start() async throws {
        let p = ChildProcess()
        p.executableURL = URL(fileURLWithPath: Binaries.evento)
        p.arguments = ["serve", "--port", "0", "--data-dir", dataDirectory] + extraArguments
        var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        // librdkafka 2.16 for the servers (see scripts/setup.sh), even when the tests run without scripts/test.sh.
        let lib = Binaries.packageRoot + "/.evento/lib"
        env["LD_LIBRARY_PATH"] = lib + (env["LD_LIBRARY_PATH"].map { ":" + $0 } ?? "")
        p.environment = env
        p.currentDirectoryURL = URL(fileURLWithPath: Binaries.packageRoot)
        let out = Pipe()
        p.standardOutput = out
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        p.standardError = log
        try p.run()
        process = p
        // The ready line: "Evento listening on http://HOST:PORT".
        let line: String
        do {
            // Generous: a full run starts hundreds of servers on two cores, some while others compile or fold.
            line = try await Self.readLine(out.fileHandleForReading, timeout: .seconds(60))
        } catch {
            p.terminate()
            throw ServerError("evento serve printed no ready line within 60 s (running: \(p.isRunning)); its log ends:\n\(serverLog.suffix(3000))")
        }
        guard let range = line.range(of: "listening on ") else {
            p.terminate()
            throw ServerError("unexpected first line from evento serve: \(line)\n\(serverLog)")
        }
        baseURL = String(line[range.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
        port = Int(baseURL.split(separator: ":").last ?? "") ?? 0
        // Keep draining stdout so the server never blocks on a full pipe.
        out.fileHandleForReading.readabilityHandler = { h in _ = h.availableData }
    }

    var serverLog: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Reads one line on a thread of its own (a blocking read must not hold one of the few cooperative
    /// threads every test shares).
    static func readLine(_ handle: FileHandle, timeout: Duration) async throws -> String {
        let line: String? = await withCheckedContinuation { (c: CheckedContinuation<String?, Never>) in
            let once = OnceFlag()
            Thread.detachNewThread {
                var bytes: [UInt8] = []
                while true {
                    guard let chunk = try? handle.read(upToCount: 1), !chunk.isEmpty else { break }
                    if chunk[chunk.startIndex] == UInt8(ascii: "\n") { break }
                    bytes.append(contentsOf: chunk)
                }
                if once.claim() { c.resume(returning: String(decoding: bytes, as: UTF8.self)) }
            }
            // The deadline as a task, not a thread asleep for the whole timeout: a full run starts hundreds of
            // servers, and as many idle threads at once (91 seen beside a crash in libdispatch) are not free.
            Task {
                try? await Task.sleep(for: timeout)
                if once.claim() { c.resume(returning: nil) }
            }
        }
        guard let line else { throw ServerError("no line within \(timeout)") }
        return line
    }

    /// SIGTERM, and wait for a clean exit (SIGKILL after 15 s: a test must not hang on a stuck shutdown).
    @discardableResult
    func stop() async -> Bool {
        guard let p = process else { return true }
        process = nil
        return await Self.terminate(p)
    }

    /// Whether the process exited on SIGTERM within the grace period.
    static func terminate(_ p: ChildProcess) async -> Bool {
        guard p.isRunning else { return true }
        p.terminate()
        let deadline = ContinuousClock.now + .seconds(15)
        while p.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        guard p.isRunning else { return true }
        Foundation.kill(p.processIdentifier, SIGKILL)
        while p.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        return false
    }

    /// SIGKILL: a crash, as far as the server can tell.
    func kill() async {
        guard let p = process else { return }
        process = nil
        Foundation.kill(p.processIdentifier, SIGKILL)
        while p.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
    }

    func restart() async throws {
        #expect(await stop(), "evento serve did not shut down within 15 s of SIGTERM")
        try await start()
    }

    deinit {
        // SIGTERM, and SIGKILL later from a thread of its own: deinit must not block a cooperative thread.
        if let p = process, p.isRunning {
            p.terminate()
            let pid = p.processIdentifier
            Thread.detachNewThread {
                for _ in 0..<150 where p.isRunning { Thread.sleep(forTimeInterval: 0.1) }
                if p.isRunning { Foundation.kill(pid, SIGKILL) }
            }
        }
        client.shutdown()
        // EVENTO_TEST_KEEP_DATA=1 keeps each server's data directory and log for a post-mortem.
        if ProcessInfo.processInfo.environment["EVENTO_TEST_KEEP_DATA"] == nil { try? FileManager.default.removeItem(atPath: dataDirectory) }
    }

    // MARK: HTTP

    struct Reply {
        var status: Int
        var json: JSONValue
        var headers: [(name: String, value: String)]
        var text: String
        func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
    }

    func request(_ method: String, _ path: String, body: String? = nil, headers: [(name: String, value: String)] = []) async throws -> Reply {
        let r = try await client.execute(
            // The timeout is longer than any wait a test asks the server for (30 s by default), so that the
            // server's own answer is what a test sees even on a loaded machine.
            HTTPClientRequest(
                method: method, url: baseURL + path, headers: headers, body: body.map { Array($0.utf8) }, timeout: .seconds(120),
                collectHeaders: true))
        let json = (try? JSONParser.parse(r.body)) ?? .null
        return Reply(status: r.status, json: json, headers: r.headers, text: r.bodyText)
    }

    func get(_ path: String) async throws -> Reply { try await request("GET", path) }
    func post(_ path: String, _ body: String, headers: [(name: String, value: String)] = []) async throws -> Reply {
        try await request("POST", path, body: body, headers: headers)
    }
    func post(_ path: String, json: JSONValue) async throws -> Reply { try await request("POST", path, body: json.jsonText) }
}

struct ServerError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A flag that exactly one caller can claim.
final class OnceFlag: @unchecked Sendable {
    // @unchecked: guarded by the lock.
    private let lock = NSLock()
    private var claimed = false
    func claim() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if claimed { return false }
        claimed = true
        return true
    }
}
