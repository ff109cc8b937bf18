import EventoCore
import Foundation
import Testing

/// A server flooded far past what its handler can do (12 clients against 2 commands/s): 429s with Retry-After beyond the backlog bound,
/// memory bounded, every accepted command done, nothing lost.
@Suite(.serialized) struct OverloadTests {
    static func rssKB(_ server: ServerProcess) -> Int? {
        guard let pid = server.process?.processIdentifier,
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }

    /// `--max-scheduled`: commands held for later beyond it are refused with 429 (commands due now are not);
    /// `--max-wal-bytes` is taken, and a value that is not a positive number is refused at start.
    @Test func scheduledCommandsBeyondMaxScheduledGet429AndTheWALLimitIsAFlag() async throws {
        let server = try await ServerProcess(arguments: ["--max-scheduled", "2", "--max-wal-bytes", "8388608"])
        defer { Task { await server.kill() } }
        #expect(try await server.register(Fixtures.python("counter", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"))).status == 201)
        for i in 0..<2 {
            let r = try await server.post("/commands", json: ["id": .string("later-\(i)"), "entity": "counter:later", "type": "Increment", "payload": [:], "delayMs": 3_600_000])
            #expect(r.status == 202 && r.json["status"] == "scheduled", "\(r.text)")
        }
        let refused = try await server.post("/commands", json: ["id": "later-2", "entity": "counter:later", "type": "Increment", "payload": [:], "delayMs": 3_600_000])
        #expect(refused.status == 429, "\(refused.text)")
        #expect(refused.header("Retry-After") != nil)
        #expect(refused.json["detail"]?.stringValue?.contains("--max-scheduled") == true, "\(refused.text)")
        #expect(try await server.get("/commands/later-2").status == 404, "a refused command is not logged")
        let now = try await server.send("counter:now", "Increment")
        #expect(now.json["command"]?["status"] == "succeeded", "\(now.text)")

        let bad = try await runProgram([Binaries.evento, "serve", "--data-dir", server.dataDirectory + "/bad", "--port", "0", "--max-wal-bytes", "0"])
        #expect(bad.status != 0)
        #expect(bad.err.contains("--max-wal-bytes"), "\(bad.err)")
    }

    @Test func aFloodGets429sWithRetryAfterWhileEverythingAcceptedIsDoneAndMemoryStaysBounded() async throws {
        let dir = NSTemporaryDirectory() + "evento-flood-" + Identifiers.uuidV7()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/functions.json"
        // Two commands/s (one worker, 500 ms each): however slowly a loaded machine lets the clients below send,
        // they offer more. Kept small, so that the flood does not load the machine the other tests share.
        let f = Fixtures.python("counter", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"), workers: 1, env: ["SLOW_MS": "500"])
        try JSONValue.array([f]).jsonText.write(toFile: file, atomically: true, encoding: .utf8)
        let server = try await ServerProcess(arguments: ["--functions", file, "--max-backlog", "20"])
        defer { Task { await server.kill() } }
        let accepted = Shared<[String]>([])
        let refused = Shared(0)
        let missingRetryAfter = Shared(0)
        let other = Shared<[String]>([])
        let rssPeak = Shared(0)
        // Until a few refusals each, or a minute.
        let until = ContinuousClock.now + .seconds(60)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<12 {
                group.addTask {
                    var i = 0
                    var mine = 0
                    while ContinuousClock.now < until, mine < 3 {
                        let id = "flood-\(w)-\(i)"
                        i += 1
                        let r = try await server.request(
                            "POST", "/commands", body: JSONValue.object(["id": .string(id), "entity": .string("counter:f\(i % 50)"), "type": "Increment", "payload": [:]]).jsonText,
                            headers: [("Content-Type", "application/json")])
                        switch r.status {
                        case 202: accepted.withLock { $0.append(id) }
                        case 429:
                            mine += 1
                            refused.withLock { $0 += 1 }
                            if r.header("Retry-After") == nil { missingRetryAfter.withLock { $0 += 1 } }
                            #expect(r.json["type"] == "/problems/overloaded", "\(r.text)")
                            try await Task.sleep(for: .milliseconds(100))
                        default: other.withLock { $0.append("\(r.status) \(r.text.prefix(120))") }
                        }
                    }
                }
            }
            let sampler = Task {
                while !Task.isCancelled {
                    if let kb = Self.rssKB(server) { rssPeak.withLock { $0 = max($0, kb) } }
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
            try await group.waitForAll()
            sampler.cancel()
        }
        let ids = accepted.withLock { $0 }
        #expect(other.withLock { $0 }.isEmpty, "\(other.withLock { $0 }.prefix(3))")
        #expect(refused.withLock { $0 } > 0, "the flood was never refused")
        #expect(missingRetryAfter.withLock { $0 } == 0)
        #expect(rssPeak.withLock { $0 } < 300_000, "peak RSS \(rssPeak.withLock { $0 }) kB")
        // Everything accepted runs, once: the events are exactly the accepted commands.
        try await eventually(timeout: .seconds(90), "the accepted commands drained") {
            (try await server.get("/healthz").json["commandBacklog"]?.intValue ?? 1) == 0
        }
        var events = 0
        for e in 0..<50 { events += try await server.events(of: "counter:f\(e)").count }
        #expect(events == ids.count, "\(events) events for \(ids.count) accepted commands")
        let metrics = try await server.get("/metrics").text
        #expect(metrics.contains("evento_requests_refused_total"), "the refusals are counted")
    }
}
