import ArgumentParser

@main
struct Evento: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evento",
        abstract: "Evento: an event-sourcing orchestrator whose business logic runs as user functions.",
        subcommands: [Serve.self, Publish.self, Send.self, Events.self, Trace.self, Functions.self, DeadLetters.self, Kafka.self, Bench.self, PlatformManifest.self]
    )

    /// Runs the command line, with the server options allowed before the subcommand as well:
    /// `evento --url URL trace X` is `evento trace X --url URL`.
    static func main() async {
        await main(ServerOptions.movingLeadingOptions(Array(CommandLine.arguments.dropFirst())))
    }
}

/// Where the CLI finds a running server.
struct ServerOptions: ParsableArguments {
    @Option(name: .long, help: "Server URL (default: $EVENTO_URL or http://127.0.0.1:8080).")
    var url: String?

    /// Moves the server options given before the subcommand (`--url URL`, `--url=URL`) behind it, where
    /// the subcommand reads them (and one that has no server says it does not know them). The rest stays in
    /// order; they go before a `--`, after which everything is an argument.
    static func movingLeadingOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var i = 0
        while i < arguments.count {
            if arguments[i] == "--url" && i + 1 < arguments.count {
                leading += arguments[i...i + 1]
                i += 2
            } else if arguments[i].hasPrefix("--url=") {
                leading.append(arguments[i])
                i += 1
            } else {
                break
            }
        }
        guard !leading.isEmpty else { return arguments }
        var rest = Array(arguments[i...])
        rest.insert(contentsOf: leading, at: rest.firstIndex(of: "--") ?? rest.endIndex)
        return rest
    }

    var baseURL: String {
        let u = url ?? Environment.get("EVENTO_URL") ?? "http://127.0.0.1:8080"
        return u.hasSuffix("/") ? String(u.dropLast()) : u
    }
}
