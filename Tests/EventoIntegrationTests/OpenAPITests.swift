import EventoCore
import Foundation
import Testing

@Suite struct OpenAPITests {
    @Test func theServedDocumentIsValidOpenAPIAndListsTheRoutes() async throws {
        let server = try await ServerProcess()
        let r = try await server.get("/openapi.json")
        #expect(r.status == 200)
        let paths = r.json["paths"]?.objectValue?.keys ?? []
        for p in [
            "/events", "/events/{id}", "/entities/{entity}/events", "/trace/{id}", "/healthz", "/commands", "/commands/{id}",
            "/aggregates/{entity}", "/functions", "/functions/{name}", "/dead-letters", "/dead-letters/{id}/retry",
            "/events/{id}/avro", "/schemas", "/schemas/{aggregate}", "/schemas/ids/{id}", "/subjects", "/subjects/{subject}/versions",
            "/subjects/{subject}/versions/{version}", "/compatibility/subjects/{subject}/versions/{version}", "/config", "/config/{subject}", "/kafka", "/kafka/republish", "/cluster",
            "/aggregates", "/aggregates/{aggregate}/rebuild", "/views/{view}/{key}", "/views/{view}", "/views/{view}/_get", "/projectors",
            "/projectors/{name}", "/projectors/{name}/rebuild", "/projectors/{name}/retry", "/queries/{name}",
        ] {
            #expect(paths.contains(p), "\(p) is missing from the OpenAPI document")
        }
        // Validated by a validator nobody here wrote (PyPI openapi-spec-validator, installed by .ci/run).
        let file = server.dataDirectory + "/openapi.json"
        try r.text.write(toFile: file, atomically: true, encoding: .utf8)
        let check = try await runProgram(["python3", "-m", "openapi_spec_validator", file])
        #expect(check.status == 0, "openapi-spec-validator: \(check.out) \(check.err)")
    }
}

@Suite struct MethodAndFeatureAnswerTests {
    @Test func aKnownPathWithAnotherMethodIs405WithAllowAndAnUnknownPathIs404() async throws {
        let server = try await ServerProcess()
        let trace = try await server.request("TRACE", "/events")
        #expect(trace.status == 405, "\(trace.text)")
        #expect(trace.header("Allow") == "GET, POST")
        #expect(trace.json["type"] == "/problems/method-not-allowed")
        let delete = try await server.request("DELETE", "/entities/checking:1/events")
        #expect(delete.status == 405 && delete.header("Allow") == "GET", "\(delete.text)")
        #expect(try await server.request("PATCH", "/ui/some/page").header("Allow") == "GET")
        // The most specific path decides: /views/{view}/_get (POST), not /views/{view}/{key} (GET).
        let options = try await server.request("OPTIONS", "/views/v/_get")
        #expect(options.status == 405 && options.header("Allow") == "POST", "\(options.status) \(options.header("Allow") ?? "")")
        #expect(try await server.request("GET", "/no/such/thing").status == 404)
        #expect(try await server.request("GET", "/events/a/b/c").status == 404)
    }

    @Test func withoutKafkaTheRelayIsReportedNotConfiguredAndARepublishIsAConflict() async throws {
        let server = try await ServerProcess()
        _ = try await server.post("/events", json: ["entity": "note:1", "type": "Noted", "payload": [:]])
        let status = try await server.get("/kafka")
        #expect(status.status == 200, "\(status.text)")
        #expect(status.json["configured"] == false)
        #expect(status.json["headPosition"] == 1)
        let republish = try await server.post("/kafka/republish", json: ["fromPosition": 1])
        #expect(republish.status == 409, "\(republish.text)")
        #expect(republish.text.contains("Kafka is not configured"))
    }

    @Test func everyOperationDocumentsTheAnswersTheMiddlewareGives() async throws {
        let server = try await ServerProcess()
        let doc = try await server.get("/openapi.json").json
        let open: Set<String> = ["/healthz", "/metrics", "/openapi.json", "/ui"]
        for (path, item) in doc["paths"]?.objectValue?.members.map({ ($0.key, $0.value) }) ?? [] {
            for (method, op) in item.objectValue?.members.map({ ($0.key, $0.value) }) ?? [] {
                let responses = op["responses"]?.objectValue?.keys ?? []
                #expect(responses.contains("403"), "\(method) \(path)")
                if !open.contains(path) { #expect(responses.contains("401"), "\(method) \(path) needs a token: 401 is an answer") }
                if path.contains("{") { #expect(responses.contains("400") && responses.contains("404"), "\(method) \(path)") }
                if op["requestBody"] != nil {
                    for s in ["408", "413", "415", "422"] { #expect(responses.contains(s), "\(method) \(path): \(s)") }
                }
            }
        }
        #expect(doc["security"]?.arrayValue?.count == 1, "a token is required (where the server has any)")
    }
}
