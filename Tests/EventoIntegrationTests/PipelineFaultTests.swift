import Crypto
import EventoCore
import Foundation
import Testing

/// Faults of the command pipeline a probe found: squatted ids, order across restarts, reused command ids,
/// hanging functions that stalled everyone, unbounded handler output. Each test failed before its fix.
@Suite(.serialized) struct PipelineFaultTests {
    /// The id a handler's first event got before ids were keyed: anyone could compute it.
    static func guessableEventId(command: String) -> String {
        var bytes = Array(SHA256.hash(data: Array("\(command)\u{0}event\u{0}0".utf8)).prefix(16))
        bytes[6] = 0x80 | (bytes[6] & 0x0F)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        return Identifiers.uuidText(bytes)
    }

    @Test func anEventPublishedUnderTheIdAHandlerWouldDeriveNeitherTakesItsPlaceNorBreaksTheEntity() async throws {
        let server = try await ServerProcess()
        #expect(try await server.register(Fixtures.python("counter", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"))).status == 201)
        #expect(try await server.register(Fixtures.python("counter-agg", kind: "aggregator", aggregate: "counter", script: Fixtures.function("counter.py"))).status == 201)
        #expect(try await server.send("counter:sq", "Increment").json["command"]?["status"] == "succeeded")
        let squatter = Self.guessableEventId(command: "squat-1")
        let published = try await server.post(
            "/events", json: ["id": .string(squatter), "entity": "counter:sq", "type": "Incremented", "payload": ["n": 99, "command": "squatter"]])
        #expect(published.status == 201, "\(published.text)")

        let done = try await server.send("counter:sq", "Increment", id: "squat-1")
        #expect(done.json["command"]?["status"] == "succeeded", "\(done.text)")
        let ids = done.json["command"]?["resultEventIds"]?.arrayValue ?? []
        #expect(ids.count == 1)
        #expect(ids.first != .string(squatter), "the command's result is the squatter's event")
        #expect(done.json["events"]?[0]?["payload"]?["command"] == "squat-1")
        // The entity stays healthy: snapshot and stream agree, and later commands run.
        let next = try await server.send("counter:sq", "Increment")
        #expect(next.json["command"]?["status"] == "succeeded", "\(next.text)")
        let aggregate = try await server.get("/aggregates/counter:sq").json
        #expect(aggregate["version"] == 4)
        #expect(try await server.events(of: "counter:sq").count == 4)
    }

    @Test func reusingACommandIdWithAnotherPayloadIsAConflictAndTheSamePayloadIsARetry() async throws {
        let server = try await ServerProcess()
        #expect(try await server.register(Fixtures.python("counter", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"))).status == 201)
        let first = try await server.post("/commands?wait=true", json: ["id": "c-1", "entity": "counter:r", "type": "Increment", "payload": ["by": 1]])
        #expect(first.status == 200)
        let retry = try await server.post("/commands?wait=true", json: ["id": "c-1", "entity": "counter:r", "type": "Increment", "payload": ["by": 1]])
        #expect(retry.status == 200)
        #expect(retry.json["command"]?["resultEventIds"] == first.json["command"]?["resultEventIds"])
        let other = try await server.post("/commands", json: ["id": "c-1", "entity": "counter:r", "type": "Increment", "payload": ["by": 2]])
        #expect(other.status == 409, "\(other.text)")
        #expect(other.json["detail"]?.stringValue?.contains("another payload") == true, "\(other.text)")
        #expect(try await server.events(of: "counter:r").count == 1)
    }

    @Test func pendingCommandsOfOneEntityKeepTheirOrderAcrossARestart() async throws {
        // The handler is slow until the restart, so the commands pile up pending; then it is fast.
        let dir = NSTemporaryDirectory() + "evento-order-" + Identifiers.uuidV7()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/functions.json"
        func writeFunctions(slowMs: Int) throws {
            let f = Fixtures.python("counter", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"), env: ["SLOW_MS": "\(slowMs)"])
            try JSONValue.array([f]).jsonText.write(toFile: file, atomically: true, encoding: .utf8)
        }
        try writeFunctions(slowMs: 5_000)
        let server = try await ServerProcess(arguments: ["--functions", file, "--no-fsync"])
        let pending = 1_500  // more than one page of recovery
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<8 {
                group.addTask {
                    for i in stride(from: w, to: pending, by: 8) {
                        let r = try await server.post(
                            "/commands", json: ["id": .string("old-\(i)"), "entity": "counter:hot", "type": "Increment", "payload": [:]])
                        guard r.status == 202 else { throw ServerError("POST /commands: \(r.status) \(r.text)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        await server.kill()
        try writeFunctions(slowMs: 0)
        try await server.start()
        let late = try await server.post(
            "/commands?wait=true&timeoutMs=120000", json: ["id": "late", "entity": "counter:hot", "type": "Increment", "payload": [:]])
        #expect(late.json["command"]?["status"] == "succeeded", "\(late.text)")
        let events = try await server.events(of: "counter:hot")
        #expect(events.count == pending + 1)
        #expect(events.last?["causationId"] == "late", "the new command overtook older pending commands of its entity")
    }

    @Test func aHandlerThatHangsDoesNotStarveOtherAggregates() async throws {
        let server = try await ServerProcess()
        let hang = Fixtures.python("hang", kind: "handler", aggregate: "hang", script: Fixtures.function("hang.py"), workers: 2, maxAttempts: 3, timeoutMs: 1_000)
        #expect(try await server.register(hang).status == 201)
        #expect(try await server.register(Fixtures.python("counter", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"))).status == 201)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<4 {
                group.addTask {
                    for i in stride(from: w, to: 300, by: 4) {
                        let r = try await server.post("/commands", json: ["entity": .string("hang:\(i)"), "type": "Run", "payload": [:]])
                        guard r.status == 202 else { throw ServerError("POST /commands: \(r.status) \(r.text)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        let started = ContinuousClock.now
        let other = try await server.post("/commands?wait=true&timeoutMs=20000", json: ["entity": "counter:free", "type": "Increment", "payload": [:]])
        #expect(other.json["command"]?["status"] == "succeeded", "\(other.text)")
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func aDispatcherThatHangsDoesNotHoldBackTheOtherDispatchers() async throws {
        let server = try await ServerProcess()
        #expect(try await server.register(Fixtures.python("counter", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"))).status == 201)
        let stuck = Fixtures.python("stuck", kind: "dispatcher", events: ["probe.Ping"], script: Fixtures.function("hang.py"), maxAttempts: 10, timeoutMs: 2_000)
        #expect(try await server.register(stuck).status == 201)
        #expect(try await server.register(Fixtures.python("pinger", kind: "dispatcher", events: ["work.Go"], script: Fixtures.function("pinger.py"))).status == 201)
        #expect(try await server.post("/events", json: ["entity": "probe:1", "type": "Ping", "payload": [:]]).status == 201)
        #expect(try await server.post("/events", json: ["entity": "work:1", "type": "Go", "payload": ["counter": "counter:go"]]).status == 201)
        try await eventually(timeout: .seconds(8), "the Go event's command ran while the Ping dispatch hangs") {
            try await server.events(of: "counter:go").count == 1
        }
    }

    @Test func aHandlerThatReturnsTooManyOrTooLargeEventsFailsItsCommandClearly() async throws {
        // The defaults: 1,000 events per command, 4 MiB per event.
        let server = try await ServerProcess()
        let many = Fixtures.python("many", kind: "handler", aggregate: "many", script: Fixtures.function("prolific.py"), env: ["COUNT": "1001"])
        let big = Fixtures.python("big", kind: "handler", aggregate: "big", script: Fixtures.function("prolific.py"), env: ["PAD_BYTES": "4200000"])
        let fine = Fixtures.python("fine", kind: "handler", aggregate: "fine", script: Fixtures.function("prolific.py"), env: ["COUNT": "1000"])
        for f in [many, big, fine] { #expect(try await server.register(f).status == 201) }

        let tooMany = try await server.send("many:1", "Make")
        #expect(tooMany.json["command"]?["status"] == "dead", "\(tooMany.text)")
        #expect(tooMany.json["command"]?["attempts"] == 1, "a handler's output limit is not retried")
        #expect(tooMany.json["command"]?["lastError"]?.stringValue?.contains("at most 1000") == true, "\(tooMany.text)")
        let tooBig = try await server.send("big:1", "Make")
        #expect(tooBig.json["command"]?["status"] == "dead", "\(tooBig.text)")
        #expect(tooBig.json["command"]?["lastError"]?.stringValue?.contains("the limit is 4194304") == true, "\(tooBig.text)")
        #expect(try await server.events(of: "many:1").isEmpty)
        #expect(try await server.events(of: "big:1").isEmpty)
        #expect(try await server.send("fine:1", "Make").json["events"]?.arrayValue?.count == 1000)
    }

    @Test func theOutputLimitsAreConfigurable() async throws {
        let server = try await ServerProcess(arguments: ["--max-events-per-command", "5", "--max-event-bytes", "1000", "--max-reply-bytes", "4096"])
        let many = Fixtures.python("many", kind: "handler", aggregate: "many", script: Fixtures.function("prolific.py"), env: ["COUNT": "6"])
        let big = Fixtures.python("big", kind: "handler", aggregate: "big", script: Fixtures.function("prolific.py"), env: ["PAD_BYTES": "2000"])
        let huge = Fixtures.python("huge", kind: "handler", aggregate: "huge", script: Fixtures.function("prolific.py"), env: ["PAD_BYTES": "8000"])
        for f in [many, big, huge] { #expect(try await server.register(f).status == 201) }
        #expect(try await server.send("many:1", "Make").json["command"]?["lastError"]?.stringValue?.contains("at most 5") == true)
        #expect(try await server.send("big:1", "Make").json["command"]?["lastError"]?.stringValue?.contains("the limit is 1000") == true)
        let tooLong = try await server.send("huge:1", "Make")
        #expect(tooLong.json["command"]?["lastError"]?.stringValue?.contains("reply exceeds 4096 bytes") == true, "\(tooLong.text)")
    }
}
