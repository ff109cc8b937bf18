import ArgumentParser
import EventoCore

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a command to a running server.",
        discussion: """
            evento send checking:1 OpenAccount '{"owner": "Ann"}' --wait
            evento send checking:1 DepositCash '{"amount": 100}' --id deposit-1
            """
    )

    @OptionGroup var server: ServerOptions

    @Argument(help: "Entity id, AGGREGATE:ID.") var entity: String
    @Argument(help: "Command type.") var type: String
    @Argument(help: "Payload as JSON (default {}).") var payload: String?
    @Option(help: "Command id (default: generated). Sending the same id again does nothing new.") var id: String?
    @Option(name: .customLong("causation-id")) var causationId: String?
    @Option(name: .customLong("correlation-id")) var correlationId: String?
    @Flag(help: "Wait for the command to finish and print its events.") var wait = false

    func run() async throws {
        let payloadValue: JSONValue
        do { payloadValue = try JSONParser.parse(payload ?? "{}") } catch { throw ValidationError("the payload is not JSON: \(error)") }
        var body: JSONObject = ["entity": .string(entity), "type": .string(type), "payload": payloadValue]
        if let id { body["id"] = .string(id) }
        if let causationId { body["causationId"] = .string(causationId) }
        if let correlationId { body["correlationId"] = .string(correlationId) }
        let result = try await APIClient(baseURL: server.baseURL).post(
            wait ? "/commands?wait=true" : "/commands", body: Array(JSONValue.object(body).jsonText.utf8))
        output(result.jsonText)
        if wait, let status = result["command"]?["status"]?.stringValue, status != "succeeded" {
            throw CLIError("the command ended \(status): \(result["command"]?["lastError"]?.stringValue ?? "")")
        }
    }
}
