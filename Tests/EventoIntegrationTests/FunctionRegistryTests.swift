import EventoCore
import Foundation
import Testing

@Suite(.serialized) struct FunctionRegistryTests {
    @Test func registrationsAreListedPersistedAndRemoved() async throws {
        let server = try await ServerProcess()
        let definition = Fixtures.python("counter-h", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"))
        let created = try await server.register(definition)
        #expect(created.status == 201)
        #expect(created.header("Location") == "/functions/counter-h")
        #expect(created.json["timeoutMs"] == 10_000)
        #expect(created.json["transport"]?["process"]?["workers"] == 1)
        #expect(try await server.get("/functions").json["functions"]?.arrayValue?.map { $0["name"] } == ["counter-h"])

        try await server.restart()
        #expect(try await server.get("/functions").json["functions"]?.arrayValue?.map { $0["name"] } == ["counter-h"])
        #expect(try await server.send("counter:1", "Increment").json["command"]?["status"] == "succeeded", "the restarted server runs it")

        let pids = try await server.get("/functions/counter-h").json["status"]?["workers"]?.arrayValue?.compactMap(\.intValue) ?? []
        #expect(pids.count == 1)
        #expect(try await server.request("DELETE", "/functions/counter-h").status == 204)
        #expect(try await server.get("/functions/counter-h").status == 404)
        try await eventually("the workers are gone") { pids.allSatisfy { kill(Int32($0), 0) != 0 } }
        #expect(try await server.request("DELETE", "/functions/counter-h").status == 404)
        let orphan = try await server.post("/commands", #"{"entity":"counter:1","type":"Increment","payload":{}}"#)
        #expect(orphan.status == 422)
        #expect(orphan.json["detail"] == "no handler is registered for aggregate counter; register one with POST /functions")
    }

    struct BadRegistration: CustomTestStringConvertible, Sendable {
        var name: String
        var body: String
        var status: Int
        var detail: String
        var testDescription: String { name }
    }

    static let bad: [BadRegistration] = [
        BadRegistration(name: "unknown kind", body: #"{"name":"f","kind":"reducer","aggregate":"a","transport":{"http":{"url":"http://x"}}}"#,
                        status: 400, detail: #"kind: expected one of handler, aggregator, dispatcher, projector, query, got "reducer""#),
        BadRegistration(name: "handler without aggregate", body: #"{"name":"f","kind":"handler","transport":{"http":{"url":"http://x:1"}}}"#,
                        status: 400, detail: "aggregate: is required for a handler"),
        BadRegistration(name: "dispatcher without events", body: #"{"name":"f","kind":"dispatcher","transport":{"http":{"url":"http://x:1"}}}"#,
                        status: 400, detail: #"events: is required for a dispatcher: a list of event types (Type, aggregate.Type, aggregate.*), or ["*"]"#),
        BadRegistration(name: "two transports", body: #"{"name":"f","kind":"handler","aggregate":"a","transport":{"http":{"url":"http://x:1"},"process":{"command":["x"]}}}"#,
                        status: 400, detail: #"transport: expected exactly one of {"http": {…}}, {"process": {…}} or {"container": {…}}"#),
        BadRegistration(name: "bad URL", body: #"{"name":"f","kind":"handler","aggregate":"a","transport":{"http":{"url":"ftp://x"}}}"#,
                        status: 400, detail: #"transport.http.url: expected an http:// or https:// URL, got "ftp://x""#),
        BadRegistration(name: "missing program", body: #"{"name":"f","kind":"handler","aggregate":"a","transport":{"process":{"command":["no-such-program-here"]}}}"#,
                        status: 400, detail: "cannot start no-such-program-here: No such file or directory"),
        BadRegistration(name: "program that exits at once", body: #"{"name":"f","kind":"handler","aggregate":"a","transport":{"process":{"command":["sh","-c","echo boom >&2; exit 3"]}}}"#,
                        status: 400, detail: "the worker exited with status 3 right after starting; its stderr: boom"),
        BadRegistration(name: "unknown field", body: #"{"name":"f","kind":"handler","aggregate":"a","transport":{"http":{"url":"http://x:1"}},"retries":3}"#,
                        status: 400, detail: #"unknown field "retries""#),
        BadRegistration(name: "bad timeout", body: #"{"name":"f","kind":"handler","aggregate":"a","transport":{"http":{"url":"http://x:1"}},"timeoutMs":0}"#,
                        status: 400, detail: "timeoutMs: expected 1 to 600000 milliseconds, got 0"),
    ]

    @Test(arguments: bad)
    func badRegistrationsAreRefusedWithAPreciseProblem(_ c: BadRegistration) async throws {
        let server = try await ServerProcess()
        let r = try await server.post("/functions", c.body)
        #expect(r.status == c.status, "\(r.text)")
        #expect(r.header("Content-Type") == "application/problem+json")
        #expect(r.json["detail"] == .string(c.detail))
        #expect(try await server.get("/functions").json["functions"] == [])
    }

    @Test func anAggregateHasOneHandlerAndNamesAreUnique() async throws {
        let server = try await ServerProcess()
        #expect(try await server.register(Fixtures.python("h1", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"))).status == 201)
        let second = try await server.register(Fixtures.python("h2", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py")))
        #expect(second.status == 409)
        #expect(second.json["detail"] == "aggregate counter already has a handler, h1; an aggregate has one")
        let same = try await server.register(Fixtures.python("h1", kind: "aggregator", aggregate: "other", script: Fixtures.function("counter.py")))
        #expect(same.status == 409)
        #expect(same.json["detail"] == "a function named h1 is already registered; DELETE /functions/h1 first")
    }

    @Test func commandsAreIdempotentByIdAndBadOnesAreRefused() async throws {
        let server = try await ServerProcess()
        _ = try await server.register(Fixtures.python("counter-h", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py")))
        let first = try await server.post("/commands?wait=true", #"{"id":"c-1","entity":"counter:2","type":"Increment","payload":{}}"#)
        let second = try await server.post("/commands?wait=true", #"{"id":"c-1","entity":"counter:2","type":"Increment","payload":{}}"#)
        #expect(first.json["command"]?["status"] == "succeeded")
        #expect(second.json["command"] == first.json["command"])
        #expect(try await server.events(of: "counter:2").count == 1)
        let other = try await server.post("/commands", #"{"id":"c-1","entity":"counter:3","type":"Increment","payload":{}}"#)
        #expect(other.status == 409)
        #expect(other.json["detail"] == #"command id "c-1" is already used by a Increment command of counter:2"#)
        let bad = try await server.post("/commands", #"{"entity":"counter","type":"Increment","payload":{}}"#)
        #expect(bad.status == 400)
        #expect(bad.json["field"] == "entity")
        let unknown = try await server.post("/commands", #"{"entity":"counter:1","type":"Increment","payload":{},"amout":1}"#)
        #expect(unknown.status == 400)
        #expect(unknown.json["detail"] == #"unknown field "amout""#)
        #expect(try await server.get("/commands/nope").status == 404)
        let accepted = try await server.post("/commands", #"{"id":"c-2","entity":"counter:2","type":"Increment","payload":{}}"#)
        #expect(accepted.status == 202)
        #expect(accepted.json["id"] == "c-2")
        #expect(accepted.header("Location") == "/commands/c-2")
    }

    @Test func administrationNeedsTheAdminTokenWhenOneIsSet() async throws {
        let server = try await ServerProcess(environment: ["EVENTO_ADMIN_TOKEN": "s3cret"])
        let definition = Fixtures.python("counter-h", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"))
        let refused = try await server.register(definition)
        #expect(refused.status == 401)
        #expect(refused.header("WWW-Authenticate") == "Bearer")
        #expect(try await server.register(definition, headers: [("Authorization", "Bearer wrong")]).status == 401)
        #expect(try await server.register(definition, headers: [("Authorization", "Bearer s3cret")]).status == 201)
        #expect(try await server.get("/dead-letters").status == 401)
        #expect(try await server.get("/functions").status == 401)
        #expect(try await server.request("GET", "/functions", headers: [("Authorization", "Bearer s3cret")]).status == 200)
        // Commands and events change state too, and with a token configured every route but the open ones needs
        // one (ScopeTests has the table of every route and scope).
        #expect(try await server.post("/commands?wait=true", #"{"entity":"counter:1","type":"Increment","payload":{}}"#).status == 401)
        let sent = try await server.request(
            "POST", "/commands?wait=true", body: #"{"id":"c-1","entity":"counter:1","type":"Increment","payload":{}}"#,
            headers: [("Authorization", "Bearer s3cret")])
        #expect(sent.status == 200)
        #expect(try await server.get("/commands/c-1").status == 401)
        #expect(try await server.request("GET", "/commands/c-1", headers: [("Authorization", "Bearer s3cret")]).status == 200)
    }

    @Test func theServerRefusesAPublicAddressWithoutAnAdminToken() async throws {
        let dir = NSTemporaryDirectory() + "evento-public-" + Identifiers.uuidV7()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var env = ProcessInfo.processInfo.environment
        env["EVENTO_ADMIN_TOKEN"] = nil
        let r = try await runProgram([Binaries.evento, "serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", dir], environment: env, timeout: .seconds(30))
        #expect(r.status != 0)
        #expect(r.err.contains("refusing to bind 0.0.0.0 without an admin token"))
    }
}
