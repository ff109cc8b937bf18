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
