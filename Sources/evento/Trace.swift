import ArgumentParser
import EventoCore

struct Trace: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show where an event or command came from, and everything it caused."
    )

    @OptionGroup var server: ServerOptions

    @Argument(help: "An event or command id.")
    var id: String

    @Flag(help: "Print the raw JSON.") var json = false

    func run() async throws {
        let trace = try await APIClient(baseURL: server.baseURL).get("/trace/\(pathSegment(id))")
        if json {
            output(trace.jsonText)
            return
        }
        let chain = trace["chain"]?.arrayValue ?? []
        output("cause chain (root first):")
        for (i, item) in chain.enumerated() {
            output(String(repeating: "  ", count: i) + (i == 0 ? "" : "└─ ") + Self.describe(item))
        }
        let descendants = trace["descendants"]?.arrayValue ?? []
        output(descendants.isEmpty ? "caused nothing" : "caused:")
        for (i, d) in descendants.enumerated() { Self.printTree(d, prefix: "", last: i == descendants.count - 1) }
        if trace["truncated"]?.boolValue == true { output("… (truncated)") }
    }

    static func describe(_ item: JSONValue) -> String {
        let kind = item["kind"]?.stringValue ?? "?"
        let id = item["id"]?.stringValue ?? "?"
        switch kind {
        case "event":
            let seq = item["sequence"]?.intValue.map { "#\($0)" } ?? ""
            return "event \(item["type"]?.stringValue ?? "") \(item["entity"]?.stringValue ?? "")\(seq)  [\(id)]"
        case "command":
            return "command \(item["type"]?.stringValue ?? "") \(item["entity"]?.stringValue ?? "") (\(item["status"]?.stringValue ?? ""))  [\(id)]"
        default:
            return "\(kind) \(id)" + (item["missing"]?.boolValue == true ? " (not found)" : "")
        }
    }

    static func printTree(_ node: JSONValue, prefix: String, last: Bool) {
        output(prefix + (last ? "└─ " : "├─ ") + describe(node))
        let children = node["caused"]?.arrayValue ?? []
        for (i, c) in children.enumerated() {
            printTree(c, prefix: prefix + (last ? "   " : "│  "), last: i == children.count - 1)
        }
    }
}
