import EventoCore
import Foundation
import Testing

/// Commands with a durable timer (`notBefore` / `delayMs`) through a real server: stored, shown as
/// `scheduled`, kept across a SIGKILL, run when due and not before.
@Suite(.serialized) struct DurableTimerTests {
    @Test func aScheduledCommandSurvivesAKillAndRunsWhenDueNotBefore() async throws {
        let dir = NSTemporaryDirectory() + "evento-timers-" + Identifiers.uuidV7()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/functions.json"
        let f = Fixtures.python("counter", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"))
        try JSONValue.array([f]).jsonText.write(toFile: file, atomically: true, encoding: .utf8)
        let server = try await ServerProcess(arguments: ["--functions", file])
        defer { Task { await server.kill() } }
        let accepted = try await server.post(
            "/commands", json: ["id": "timer-1", "entity": "counter:timed", "type": "Increment", "payload": [:], "delayMs": 6000])
        #expect(accepted.status == 202, "\(accepted.text)")
        #expect(accepted.json["status"] == "scheduled", "\(accepted.text)")
        let notBeforeText = try #require(accepted.json["notBefore"]?.stringValue)
        let notBefore = try #require(Timestamp(rfc3339: notBeforeText))
        // Another command to the same entity is not held behind the timer.
        let now = try await server.post(
            "/commands?wait=true", json: ["id": "timer-now", "entity": "counter:timed", "type": "Increment", "payload": [:]])
        #expect(now.json["command"]?["status"] == "succeeded", "\(now.text)")
        let listed = try await server.get("/commands?status=scheduled&limit=10")
        #expect(listed.json["commands"]?.arrayValue?.contains { $0["id"] == "timer-1" } == true, "\(listed.text)")

        await server.kill()
        try await server.start()
        let afterRestart = try await server.get("/commands/timer-1")
        if Timestamp.now() < notBefore {
            #expect(afterRestart.json["status"] == "scheduled", "\(afterRestart.text)")
        }
        // Wait for it, then check it ran no earlier than its time.
        var record: JSONValue = .null
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            record = try await server.get("/commands/timer-1").json
            if record["status"] == "succeeded" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(record["status"] == "succeeded", "\(record.jsonText)")
        let events = try await server.events(of: "counter:timed")
        #expect(events.map { $0["causationId"] } == ["timer-now", "timer-1"])
        let ranAt = try #require(events.last?["time"]?.stringValue.flatMap(Timestamp.init(rfc3339:)))
        #expect(ranAt >= notBefore, "ran at \(ranAt), due \(notBefore)")

        // Waiting for a scheduled command answers once it ran.
        let started = Timestamp.now()
        let r = try await server.post(
            "/commands?wait=true&timeoutMs=10000",
            json: ["entity": "counter:waited", "type": "Increment", "payload": [:], "notBefore": .string(
                Timestamp(millisecondsSinceEpoch: started.millisecondsSinceEpoch + 400).description)])
        #expect(r.status == 200 && r.json["command"]?["status"] == "succeeded", "\(r.text)")
        #expect(Timestamp.now().millisecondsSinceEpoch - started.millisecondsSinceEpoch >= 400)
        // wait=tree whose command itself is not done when the wait ends: 202 with the tree so far, unsettled.
        let unsettled = try await server.post(
            "/commands?wait=tree&timeoutMs=300", json: ["id": "timer-tree", "entity": "counter:tree", "type": "Increment", "payload": [:], "delayMs": 60_000])
        #expect(unsettled.status == 202, "\(unsettled.text)")
        #expect(unsettled.json["settled"] == false && unsettled.json["command"]?["status"] == "scheduled", "\(unsettled.text)")
        #expect(unsettled.json["events"] == [] && unsettled.json["commands"] == [], "\(unsettled.text)")
        // Malformed timers are refused, naming the field.
        for (body, field) in [
            (["notBefore": JSONValue.string("next tuesday")], "notBefore"), (["delayMs": -5], "delayMs"),
            (["delayMs": 5, "notBefore": "2999-01-01T00:00:00Z"], "delayMs"),
        ] {
            var command: JSONObject = ["entity": "counter:x", "type": "Increment", "payload": [:]]
            for (k, v) in body { command[k] = v }
            let bad = try await server.post("/commands", json: .object(command))
            #expect(bad.status == 400 || bad.status == 422, "\(bad.text)")
            #expect(bad.text.contains(field), "\(bad.text)")
        }
    }
}
