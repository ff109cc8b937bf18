import EventoCore
import Testing

@Suite struct TraceTests {
    /// request → A → B → C: the chain of C goes back to the external request; the tree of A reaches C.
    @Test func traceFollowsAThreeLevelCausation() async throws {
        let server = try await ServerProcess()
        let a = try await server.post("/events", #"{"id":"A","entity":"order:1","type":"TransferRequested","payload":{},"causationId":"req-1","causationKind":"external"}"#)
        #expect(a.json["correlationId"] == "A")
        let b = try await server.post("/events", #"{"id":"B","entity":"stock:1","type":"Withdrawn","payload":{},"causationId":"A"}"#)
        #expect(b.json["causationKind"] == "event")
        #expect(b.json["correlationId"] == "A")
        _ = try await server.post("/events", #"{"id":"B2","entity":"shipment:1","type":"Deposited","payload":{},"causationId":"A","causationKind":"event"}"#)
        let c = try await server.post("/events", #"{"id":"C","entity":"stock:1","type":"Noted","payload":{},"causationId":"B"}"#)
        #expect(c.json["correlationId"] == "A")

        let trace = try await server.get("/trace/C")
        #expect(trace.status == 200)
        let chain = trace.json["chain"]?.arrayValue ?? []
        #expect(chain.map { $0["id"] } == ["req-1", "A", "B", "C"])
        #expect(chain.map { $0["kind"] } == ["external", "event", "event", "event"])
        #expect(chain[2]["causationId"] == "A")
        #expect(chain[2]["causationKind"] == "event")
        #expect(trace.json["descendants"] == [])

        let fromA = try await server.get("/trace/A").json
        #expect(fromA["chain"]?.arrayValue?.map { $0["id"] } == ["req-1", "A"])
        let children = fromA["descendants"]?.arrayValue ?? []
        #expect(children.map { $0["id"] } == ["B", "B2"])
        #expect(children[0]["caused"]?.arrayValue?.map { $0["id"] } == ["C"])
        #expect(children[0]["caused"]?.arrayValue?.first?["caused"] == [])
        #expect(children[1]["caused"] == [])

        // The external request id itself: everything it started.
        let fromRequest = try await server.get("/trace/req-1").json
        #expect(fromRequest["chain"]?.arrayValue?.map { $0["kind"] } == ["external"])
        #expect(fromRequest["descendants"]?.arrayValue?.map { $0["id"] } == ["A"])
    }
}
