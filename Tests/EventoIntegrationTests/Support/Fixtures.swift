import EventoCore
import Foundation
import Testing

/// Paths and helpers for the function fixtures.
enum Fixtures {
    static var root: String { Binaries.packageRoot }
    static var runtimePython: String { root + "/runtime/python" }
    static func function(_ name: String) -> String { root + "/Tests/Fixtures/functions/" + name }
    static var checkingFunction: String {
        URL(fileURLWithPath: Binaries.evento).deletingLastPathComponent().appendingPathComponent("checking-function").path
    }

    /// A process-transport registration of a Python fixture.
    static func python(
        _ name: String, kind: String, aggregate: String? = nil, events: [String]? = nil, script: String, workers: Int = 1,
        env: [String: String] = [:], maxAttempts: Int = 5, timeoutMs: Int = 10_000, maxBatch: Int = 1
    ) -> JSONValue {
        var environment: JSONObject = ["EVENTO_RUNTIME_PY": .string(runtimePython)]
        for (k, v) in env { environment[k] = .string(v) }
        var o: JSONObject = [
            "name": .string(name), "kind": .string(kind),
            "transport": ["process": ["command": ["python3", .string(script)], "workers": .int(Int64(workers)), "env": .object(environment)]],
            "maxAttempts": .int(Int64(maxAttempts)), "timeoutMs": .int(Int64(timeoutMs)),
        ]
        if let aggregate { o["aggregate"] = .string(aggregate) }
        if maxBatch > 1 { o["maxBatch"] = .int(Int64(maxBatch)) }
        if let events { o["events"] = .array(events.map(JSONValue.string)) }
        return .object(o)
    }
}

/// Polls until `condition` holds, or fails the test at the deadline.
func eventually(
    timeout: Duration = .seconds(30), _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("timed out waiting for: \(what)", sourceLocation: sourceLocation)
    throw ServerError("timed out waiting for: \(what)")
}

/// A helper process (an HTTP function server) that is killed when the test ends.
final class HelperProcess: @unchecked Sendable {
    let process = ChildProcess()
    private(set) var firstLine = ""

    /// Starts `arguments` and waits for its first stderr line (function servers print where they listen).
    init(_ arguments: [String], environment: [String: String] = [:]) async throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        firstLine = try await ServerProcess.readLine(err.fileHandleForReading, timeout: .seconds(20))
        err.fileHandleForReading.readabilityHandler = { h in _ = h.availableData }
    }

    /// The URL in a "… listening on http://HOST:PORT" line.
    var url: String? {
        firstLine.range(of: "http://").map { String(firstLine[$0.lowerBound...]).trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    deinit {
        // SIGKILL: a process spawned from a runtime thread may have SIGTERM blocked.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

extension ServerProcess {
    func register(_ definition: JSONValue, headers: [(name: String, value: String)] = []) async throws -> Reply {
        try await request("POST", "/functions", body: definition.jsonText, headers: headers)
    }

    /// Sends a command and waits for its final status.
    func send(_ entity: String, _ type: String, _ payload: JSONValue = [:], id: String? = nil) async throws -> Reply {
        var body: JSONObject = ["entity": .string(entity), "type": .string(type), "payload": payload]
        if let id { body["id"] = .string(id) }
        return try await post("/commands?wait=true", json: .object(body))
    }

    func command(_ id: String) async throws -> JSONValue { try await get("/commands/\(id)").json }

    func events(of entity: String) async throws -> [JSONValue] {
        try await get("/entities/\(entity)/events?limit=10000").json["events"]?.arrayValue ?? []
    }
}

/// Runs a program to completion with its output in files (pipes can leak into other tests' children and
/// never reach end-of-file). Kills it at the deadline.
func runProgram(_ arguments: [String], environment: [String: String]? = nil, timeout: Duration = .seconds(60)) async throws -> (status: Int32, out: String, err: String) {
    let dir = NSTemporaryDirectory() + "evento-run-" + Identifiers.uuidV7()
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    _ = FileManager.default.createFile(atPath: dir + "/out", contents: nil)
    _ = FileManager.default.createFile(atPath: dir + "/err", contents: nil)
    let p = ChildProcess()
    p.executableURL = URL(fileURLWithPath: arguments[0].hasPrefix("/") ? arguments[0] : "/usr/bin/env")
    p.arguments = arguments[0].hasPrefix("/") ? Array(arguments.dropFirst()) : arguments
    if let environment { p.environment = environment }
    p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/out"))
    p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/err"))
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let deadline = ContinuousClock.now + timeout
    while p.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    if p.isRunning {
        kill(p.processIdentifier, SIGKILL)
        while p.isRunning { try await Task.sleep(for: .milliseconds(10)) }
    }
    let out = (try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? ""
    return (p.terminationStatus, out, err)
}
