import ArgumentParser
import EventoCore
import Foundation

struct Functions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "functions",
        abstract: "Register, list and remove functions on a running server ($EVENTO_ADMIN_TOKEN is sent when set); build images.",
        subcommands: [Register.self, List.self, Remove.self, BuildImage.self, Manifest.self],
        aliases: ["function"]
    )

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register the functions in a file: one definition, [ … ] or {\"functions\": [ … ]}.",
            discussion: """
                evento functions register functions/bank.json
                evento functions register --replace functions/bank.json   # new definitions, workers restarted in turn
                """)
        @OptionGroup var server: ServerOptions
        @Flag(help: "Replace functions already registered under these names (PUT: calls in flight finish, none fails).")
        var replace = false
        @Argument(help: "A JSON file (- for stdin).") var file: String

        func run() async throws {
            let data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
            let value = try JSONParser.parse(Array(data))
            let items = value["functions"]?.arrayValue ?? value.arrayValue ?? [value]
            let api = APIClient(baseURL: server.baseURL)
            for item in items {
                let body = Array(item.jsonText.utf8)
                if replace {
                    guard let name = item["name"]?.stringValue else { throw ValidationError("every definition needs a name to replace it") }
                    let r = try await api.put("/functions/\(pathSegment(name))", body: body)
                    output("replaced or registered \(r["name"]?.stringValue ?? "?") (\(r["kind"]?.stringValue ?? "?"))")
                } else {
                    let r = try await api.post("/functions", body: body)
                    output("registered \(r["name"]?.stringValue ?? "?") (\(r["kind"]?.stringValue ?? "?"))")
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered functions as JSON lines.")
        @OptionGroup var server: ServerOptions

        func run() async throws {
            let r = try await APIClient(baseURL: server.baseURL).get("/functions")
            for f in r["functions"]?.arrayValue ?? [] { output(f.jsonText) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a function and stop its workers.")
        @OptionGroup var server: ServerOptions
        @Argument var name: String

        func run() async throws {
            _ = try await APIClient(baseURL: server.baseURL).delete("/functions/\(pathSegment(name))")
            output("removed \(name)")
        }
    }
}

struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "List dead letters, or retry one (evento dead-letters --retry ID)."
    )
    @OptionGroup var server: ServerOptions
    @Option(help: "Retry this dead letter.") var retry: String?

    func run() async throws {
        let api = APIClient(baseURL: server.baseURL)
        if let retry {
            output(try await api.post("/dead-letters/\(pathSegment(retry))/retry", body: []).jsonText)
            return
        }
        for d in try await api.get("/dead-letters")["deadLetters"]?.arrayValue ?? [] { output(d.jsonText) }
    }
}
