import ArgumentParser

@main
struct Evento: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evento",
        abstract: "Evento: an event-sourcing orchestrator whose business logic runs as user functions.",
        subcommands: [Serve.self, Publish.self, Send.self, Events.self, Trace.self, Functions.self, DeadLetters.self, Kafka.self, Bench.self, PlatformManifest.self]
    )
}

/// Where the CLI finds a running server.
struct ServerOptions: ParsableArguments {
    @Option(name: .long, help: "Server URL (default: $EVENTO_URL or http://127.0.0.1:8080).")
    var url: String?

    var baseURL: String {
        let u = url ?? Environment.get("EVENTO_URL") ?? "http://127.0.0.1:8080"
        return u.hasSuffix("/") ? String(u.dropLast()) : u
    }
}
