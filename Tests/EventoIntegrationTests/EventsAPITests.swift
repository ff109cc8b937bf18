import EventoCore
import Foundation
import Testing

@Suite struct EventsAPITests {
    @Test func publishedEventsAreServedByIdByEntityAndInTheFeed() async throws {
        let server = try await ServerProcess()
        let r = try await server.post("/events", #"{"entity":"ledger:6789-21","type":"AccountOpened","payload":{"owner":"Ann"}}"#)
        #expect(r.status == 201)
        let id = try #require(r.json["id"]?.stringValue)
        #expect(r.header("Location") == "/events/\(id)")
        #expect(r.json["entity"] == "ledger:6789-21")
        #expect(r.json["sequence"] == 1)
        #expect(r.json["position"] == 1)
        #expect(r.json["payload"] == ["owner": "Ann"])
        #expect(r.json["causationKind"] == "external")
        #expect(r.json["correlationId"] == .string(id), "an external event is its own correlation root")
        #expect(TraceParent(r.json["traceparent"]?.stringValue ?? "") != nil)
        #expect(r.json["time"]?.stringValue?.hasSuffix("Z") == true)

        let byId = try await server.get("/events/\(id)")
        #expect(byId.status == 200)
        #expect(byId.json == r.json)

        _ = try await server.post("/events", #"{"entity":"ledger:6789-21","type":"Deposited","payload":{"amount":10}}"#)
        _ = try await server.post("/events", #"{"entity":"wallet:1","type":"AccountOpened","payload":{}}"#)
        let stream = try await server.get("/entities/ledger:6789-21/events")
        #expect(stream.json["events"]?.arrayValue?.map { $0["type"] } == ["AccountOpened", "Deposited"])
        let encoded = try await server.get("/entities/ledger%3A6789-21/events?fromSequence=2")
        #expect(encoded.json["events"]?.arrayValue?.map { $0["sequence"] } == [2])
        let feed = try await server.get("/events?afterPosition=1&limit=1")
        #expect(feed.json["events"]?.arrayValue?.map { $0["position"] } == [2])
        #expect(feed.json["lastPosition"] == 2)
        let health = try await server.get("/healthz")
        #expect(health.json["status"] == "ok")
        #expect(health.json["headPosition"] == 3)
    }

    @Test func eightConcurrentWritersToOneEntityGetGaplessOrderedSequences() async throws {
        let server = try await ServerProcess()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<8 {
                group.addTask {
                    for i in 0..<25 {
                        let r = try await server.post("/events", json: ["entity": "counter:1", "type": "Incremented", "payload": ["writer": .int(Int64(w)), "i": .int(Int64(i))]])
                        #expect(r.status == 201)
                    }
                }
            }
            try await group.waitForAll()
        }
        let events = try await server.get("/entities/counter:1/events").json["events"]?.arrayValue ?? []
        #expect(events.map { $0["sequence"]?.intValue ?? 0 } == Array(1...200))
        for w in 0..<8 {
            let mine = events.filter { $0["payload"]?["writer"] == .int(Int64(w)) }.map { $0["payload"]?["i"]?.intValue ?? -1 }
            #expect(mine == Array(0..<25))
        }
    }

    @Test func concurrentPublishesAtTheSameExpectedVersionHaveExactlyOneWinner() async throws {
        let server = try await ServerProcess()
        _ = try await server.post("/events", #"{"entity":"order:1","type":"Placed","payload":{}}"#)
        let replies = try await withThrowingTaskGroup(of: ServerProcess.Reply.self) { group in
            for i in 0..<10 {
                group.addTask {
                    try await server.post("/events", #"{"entity":"order:1","type":"Paid","payload":{"n":\#(i)},"expectedVersion":1}"#)
                }
            }
            return try await group.reduce(into: [ServerProcess.Reply]()) { $0.append($1) }
        }
        #expect(replies.filter { $0.status == 201 }.count == 1)
        let conflicts = replies.filter { $0.status == 409 }
        #expect(conflicts.count == 9)
        for c in conflicts {
            #expect(c.header("Content-Type") == "application/problem+json")
            #expect(c.json["detail"] == "entity order:1 is at version 2, expected 1")
            #expect(c.json["actualVersion"] == 2)
            #expect(c.json["expectedVersion"] == 1)
        }
        #expect(try await server.get("/entities/order:1/events").json["events"]?.arrayValue?.count == 2)
    }

    @Test func publishingTheSameIdTwiceStoresOneEvent() async throws {
        let server = try await ServerProcess()
        let body = #"{"id":"evt-42","entity":"order:2","type":"Placed","payload":{"total":5}}"#
        let first = try await server.post("/events", body)
        let second = try await server.post("/events", body)
        #expect(first.status == 201)
        #expect(second.status == 201)
        #expect(second.json == first.json)
        #expect(first.header("Evento-Replayed") == nil)
        #expect(second.header("Evento-Replayed") == "1")
        #expect(try await server.get("/events").json["events"]?.arrayValue?.count == 1)
        let other = try await server.post("/events", #"{"id":"evt-42","entity":"order:3","type":"Placed","payload":{}}"#)
        #expect(other.status == 409)
        #expect(other.json["type"] == "/problems/idempotency-conflict")
        #expect(other.json["detail"] == #"event id "evt-42" is already used by a Placed event of order:2"#)
    }

    @Test func aBatchCommitsAtomically() async throws {
        let server = try await ServerProcess()
        let ok = try await server.post("/events", #"{"events":[{"entity":"a:1","type":"X","payload":{}},{"entity":"b:1","type":"Y","payload":{}}]}"#)
        #expect(ok.status == 201)
        #expect(ok.json["events"]?.arrayValue?.map { $0["position"] } == [1, 2])

        // A shape error in the third event: 400, nothing stored.
        let bad = try await server.post("/events", #"{"events":[{"entity":"a:1","type":"X","payload":{}},{"entity":"a:1","type":"X","payload":{}},{"entity":"nocolon","type":"X","payload":{}}]}"#)
        #expect(bad.status == 400)
        #expect(bad.json["field"] == "events[2].entity")
        // A version conflict in the second event: 409, nothing stored.
        let conflict = try await server.post("/events", #"{"events":[{"entity":"c:1","type":"X","payload":{}},{"entity":"a:1","type":"X","payload":{},"expectedVersion":5}]}"#)
        #expect(conflict.status == 409)
        #expect(conflict.json["detail"] == "events[1]: entity a:1 is at version 1, expected 5")
        #expect(conflict.json["field"] == "events[1].expectedVersion")
        let all = try await server.get("/events").json["events"]?.arrayValue ?? []
        #expect(all.count == 2)
        #expect(try await server.get("/entities/c:1/events").json["events"]?.arrayValue?.isEmpty == true)
    }

    @Test func aRestartedServerServesEverythingItHad() async throws {
        let server = try await ServerProcess()
        var ids: [String] = []
        for i in 0..<20 {
            let r = try await server.post("/events", json: ["entity": .string("acct:\(i % 3)"), "type": "Touched", "payload": ["i": .int(Int64(i))]])
            ids.append(r.json["id"]?.stringValue ?? "")
        }
        let before = try await server.get("/events?limit=100").json
        try await server.restart()
        let after = try await server.get("/events?limit=100").json
        #expect(after == before)
        #expect(try await server.get("/events/\(ids[7])").json["payload"] == ["i": 7])
        let next = try await server.post("/events", #"{"entity":"acct:0","type":"Touched","payload":{},"expectedVersion":7}"#)
        #expect(next.status == 201)
        #expect(next.json["sequence"] == 8)
        #expect(next.json["position"] == 21)
    }

    @Test func longPollingTheFeedAnswersWhenAnEventCommits() async throws {
        let server = try await ServerProcess()
        async let waited = server.get("/events?afterPosition=0&waitMs=20000")
        try await Task.sleep(for: .milliseconds(300))
        let start = ContinuousClock.now
        _ = try await server.post("/events", #"{"entity":"a:1","type":"X","payload":{}}"#)
        let r = try await waited
        #expect(r.json["events"]?.arrayValue?.count == 1)
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test func traceparentIsAcceptedFromTheHeaderAndPropagatedToCausedEvents() async throws {
        let server = try await ServerProcess()
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        let root = try await server.post("/events", #"{"id":"r","entity":"a:1","type":"X","payload":{}}"#, headers: [("traceparent", tp)])
        #expect(root.json["traceparent"] == .string(tp))
        let child = try await server.post("/events", #"{"entity":"a:1","type":"Y","payload":{},"causationId":"r"}"#)
        #expect(child.json["causationKind"] == "event")
        #expect(child.json["correlationId"] == "r")
        let childTrace = try #require(TraceParent(child.json["traceparent"]?.stringValue ?? ""))
        #expect(childTrace.traceId == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(childTrace.parentId != "00f067aa0ba902b7")
    }
}
