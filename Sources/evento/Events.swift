import ArgumentParser
import EventoCore

struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print events as JSON lines: one entity's stream, or the global feed.",
        discussion: """
            evento events checking:6789-21          # one entity, in sequence order
            evento events --after-position 100      # the global feed, in position order
            evento events --follow                  # keep printing new events as they commit
            """
    )

    @OptionGroup var server: ServerOptions

    @Argument(help: "Entity id (AGGREGATE:ID); omit for the global feed.")
    var entity: String?

    @Option(name: .customLong("from-sequence")) var fromSequence: Int = 1
    @Option(name: .customLong("after-position")) var afterPosition: Int = 0
    @Option var limit: Int = 1000
    @Flag(help: "Global feed: keep waiting for new events.") var follow = false

    func run() async throws {
        let api = APIClient(baseURL: server.baseURL)
        if let entity {
            var from = fromSequence
            while true {
                let page = try await api.get("/entities/\(pathSegment(entity))/events?fromSequence=\(from)&limit=\(limit)")
                let events = page["events"]?.arrayValue ?? []
                for e in events { output(e.jsonText) }
                // A page ends at `limit` events or at the server's response byte limit (`truncatedByBytes`).
                guard events.count == limit || page["truncatedByBytes"] == true, let last = events.last?["sequence"]?.intValue else { return }
                from = Int(page["nextSequence"]?.intValue ?? last + 1)
            }
        }
        var after = afterPosition
        while true {
            let wait = follow ? "&waitMs=25000" : ""
            let page = try await api.get("/events?afterPosition=\(after)&limit=\(limit)\(wait)", timeout: .seconds(60))
            let events = page["events"]?.arrayValue ?? []
            for e in events { output(e.jsonText) }
            after = Int(page["lastPosition"]?.intValue ?? Int64(after))
            if events.isEmpty && !follow { return }
            if events.count < limit && page["truncatedByBytes"] != true && !follow { return }
        }
    }
}
