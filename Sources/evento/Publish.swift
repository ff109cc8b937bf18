import ArgumentParser
import EventoCore
import Foundation

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish an event (or a batch from a file) to a running server.",
        discussion: """
            evento publish checking:6789-21 AccountOpened '{"owner": "Ann"}'
            evento publish --file batch.json        # {"events": [ … ]} or one event object; - reads stdin
            """
    )

    @OptionGroup var server: ServerOptions

    @Argument(help: "Entity id, AGGREGATE:ID.")
    var entity: String?

    @Argument(help: "Event type.")
    var type: String?

    @Argument(help: "Payload as JSON (default {}).")
    var payload: String?

    @Option(help: "Event id (default: generated).")
    var id: String?

    @Option(name: .customLong("expected-version"), help: "An integer, any, noStream or exists.")
    var expectedVersion: String?

    @Option(name: .customLong("causation-id"))
    var causationId: String?

    @Option(name: .customLong("correlation-id"))
    var correlationId: String?

    @Option(help: "Send this file's JSON as the request body (- for stdin).")
    var file: String?

    func run() async throws {
        let body: [UInt8]
        if let file {
            let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
            body = Array(data)
        } else {
            guard let entity, let type else { throw ValidationError("give ENTITY and TYPE, or --file") }
            let payloadValue: JSONValue
            do { payloadValue = try JSONParser.parse(payload ?? "{}") } catch { throw ValidationError("the payload is not JSON: \(error)") }
            var event: JSONObject = ["entity": .string(entity), "type": .string(type), "payload": payloadValue]
            if let id { event["id"] = .string(id) }
            if let causationId { event["causationId"] = .string(causationId) }
            if let correlationId { event["correlationId"] = .string(correlationId) }
            if let v = expectedVersion { event["expectedVersion"] = Int64(v).map(JSONValue.int) ?? .string(v) }
            body = Array(JSONValue.object(event).jsonText.utf8)
        }
        let result = try await APIClient(baseURL: server.baseURL).post("/events", body: body)
        output(result.jsonText)
    }
}
