import EventoCore
import Testing

/// Every error the events API can answer, through the real server: status, problem+json, detail, field.
@Suite struct ErrorTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var method = "POST"
        var path = "/events"
        var body: String?
        var status: Int
        var type: String
        var detail: String
        var field: String?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "malformed JSON", body: #"{"entity": "a:1", "type": }"#, status: 400, type: "malformed-json",
             detail: "the request body is not valid JSON: unexpected character '}', expected a value at line 1, column 27"),
        Case(name: "empty body", body: "", status: 400, type: "malformed-json", detail: "the request body is empty; expected JSON"),
        Case(name: "not an object", body: "[1]", status: 400, type: "invalid-request",
             detail: #"expected a JSON object (one event, or {"events": [ … ]}), got array"#, field: ""),
        Case(name: "unknown field", body: #"{"entity":"a:1","type":"X","payload":{},"amout":1}"#, status: 400, type: "invalid-request",
             detail: #"unknown field "amout""#, field: "amout"),
        Case(name: "unknown field in a batch", body: #"{"events":[{"entity":"a:1","type":"X","payload":{},"extra":true}]}"#, status: 400,
             type: "invalid-request", detail: #"events[0]: unknown field "extra""#, field: "events[0].extra"),
        Case(name: "unknown top-level field beside events", body: #"{"events":[],"x":1}"#, status: 400, type: "invalid-request",
             detail: #"unknown field "x""#, field: "x"),
        Case(name: "empty batch", body: #"{"events":[]}"#, status: 400, type: "invalid-request",
             detail: "events: is empty; send at least one event", field: "events"),
        Case(name: "entity without colon", body: #"{"entity":"checking","type":"X","payload":{}}"#, status: 400, type: "invalid-request",
             detail: #"entity: entity id "checking" has no ':' between aggregate and id; expected AGGREGATE:ID, e.g. checking:6789-21"#, field: "entity"),
        Case(name: "entity with a bad aggregate", body: #"{"entity":"check-ing:1","type":"X","payload":{}}"#, status: 400, type: "invalid-request",
             detail: #"entity: entity id "check-ing:1" has aggregate "check-ing", which is not a name ([A-Za-z_][A-Za-z0-9_]*); expected AGGREGATE:ID, e.g. checking:6789-21"#,
             field: "entity"),
        Case(name: "entity of the wrong type", body: #"{"entity":5,"type":"X","payload":{}}"#, status: 400, type: "invalid-request",
             detail: "entity: expected string, got integer", field: "entity"),
        Case(name: "missing type", body: #"{"entity":"a:1","payload":{}}"#, status: 400, type: "invalid-request",
             detail: "type: is required", field: "type"),
        Case(name: "bad type name", body: #"{"entity":"a:1","type":"Was Deposited","payload":{}}"#, status: 400, type: "invalid-request",
             detail: #"type: "Was Deposited" is not a type name ([A-Za-z_][A-Za-z0-9_]*)"#, field: "type"),
        Case(name: "payload not an object", body: #"{"entity":"a:1","type":"X","payload":"ten"}"#, status: 400, type: "invalid-request",
             detail: "payload: expected object, got string", field: "payload"),
        Case(name: "bad expectedVersion", body: #"{"entity":"a:1","type":"X","payload":{},"expectedVersion":"latest"}"#, status: 400,
             type: "invalid-request",
             detail: #"expectedVersion: expected a version (integer ≥ 0) or one of "any", "noStream", "exists", got "latest""#,
             field: "expectedVersion"),
        Case(name: "bad causationKind", body: #"{"entity":"a:1","type":"X","payload":{},"causationId":"c","causationKind":"user"}"#,
             status: 400, type: "invalid-request", detail: #"causationKind: expected one of command, event, external, got "user""#,
             field: "causationKind"),
        Case(name: "bad traceparent", body: #"{"entity":"a:1","type":"X","payload":{},"traceparent":"xyz"}"#, status: 400,
             type: "invalid-request", detail: #"traceparent: "xyz" is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)"#,
             field: "traceparent"),
        Case(name: "repeated id in a batch", body: #"{"events":[{"id":"x","entity":"a:1","type":"X","payload":{}},{"id":"x","entity":"a:1","type":"X","payload":{}}]}"#,
             status: 400, type: "invalid-request", detail: #"events[1].id: "x" repeats the id of events[0]"#, field: "events[1].id"),
        Case(name: "unknown causing event", body: #"{"entity":"a:1","type":"X","payload":{},"causationId":"nope","causationKind":"event"}"#,
             status: 422, type: "unknown-reference",
             detail: #"causationId: "nope" is given as a event, but no event with that id is stored"#, field: "causationId"),
        Case(name: "version conflict", body: #"{"entity":"a:1","type":"X","payload":{},"expectedVersion":3}"#, status: 409,
             type: "version-conflict", detail: "entity a:1 is at version 0, expected 3"),
        Case(name: "unknown event id", method: "GET", path: "/events/does-not-exist", status: 404, type: "not-found",
             detail: #"no event with id "does-not-exist""#),
        Case(name: "unknown trace id", method: "GET", path: "/trace/does-not-exist", status: 404, type: "not-found",
             detail: #"no event or command with id "does-not-exist", and nothing caused by it"#),
        Case(name: "unknown route", method: "GET", path: "/nowhere", status: 404, type: "not-found", detail: "no route for GET /nowhere"),
        Case(name: "bad entity in the path", method: "GET", path: "/entities/nocolon/events", status: 400, type: "invalid-request",
             detail: #"entity id "nocolon" has no ':' between aggregate and id; expected AGGREGATE:ID, e.g. checking:6789-21"#, field: "entity"),
        Case(name: "bad query parameter", method: "GET", path: "/events?limit=0", status: 400, type: "invalid-request",
             detail: #"query parameter limit: expected an integer from 1 to 10000, got "0""#, field: "limit"),
        Case(name: "body over the limit", body: #"{"entity":"a:1","type":"X","payload":{"pad":""# + String(repeating: "x", count: 3000) + #""}}"#,
             status: 413, type: "payload-too-large", detail: "the request body is 3048 bytes; the limit is 2048 bytes"),
    ]

    @Test(arguments: cases)
    func errorsAreProblemsThatNameTheFieldAndWriteNothing(_ c: Case) async throws {
        let server = try await ServerProcess(arguments: ["--max-body-bytes", "2048"])
        let r = try await server.request(c.method, c.path, body: c.body)
        #expect(r.status == c.status, "\(r.text)")
        #expect(r.header("Content-Type") == "application/problem+json")
        #expect(r.json["type"] == .string("/problems/\(c.type)"))
        #expect(r.json["status"] == .int(Int64(c.status)))
        #expect(r.json["detail"] == .string(c.detail))
        #expect(r.json["title"]?.stringValue?.isEmpty == false)
        if let field = c.field { #expect(r.json["field"] == .string(field)) }
        #expect(try await server.get("/healthz").json["headPosition"] == 0, "a rejected request wrote something")
    }
}
