import EventoCore
import Foundation
import Testing

@Suite struct OpenAPITests {
    @Test func theServedDocumentIsValidOpenAPIAndListsTheRoutes() async throws {
        let server = try await ServerProcess()
        let r = try await server.get("/openapi.json")
        #expect(r.status == 200)
        let paths = r.json["paths"]?.objectValue?.keys ?? []
        for p in ["/events", "/events/{id}", "/entities/{entity}/events", "/trace/{id}", "/healthz"] {
            #expect(paths.contains(p), "\(p) is missing from the OpenAPI document")
        }
        // Validated by a validator nobody here wrote (PyPI openapi-spec-validator, installed by .ci/run).
        let file = server.dataDirectory + "/openapi.json"
        try r.text.write(toFile: file, atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-m", "openapi_spec_validator", file]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "openapi-spec-validator: \(text)")
    }
}
