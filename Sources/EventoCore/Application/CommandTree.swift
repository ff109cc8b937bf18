import DequeModule

/// A command and everything it caused, transitively: the events its handler committed, the commands
/// dispatchers derived from them, their events, and so on (what `POST /commands?wait=tree` answers).
public struct CommandTree: Sendable {
    public var command: CommandRecord
    /// Every event of the tree, in position order.
    public var events: [EventEnvelope]
    /// Every descendant command, in the order the walk met them (generation by generation).
    public var commands: [CommandRecord]
    /// Nothing in the tree is still to happen: every command is final (none pending or scheduled), and
    /// every dispatcher that receives one of its events has dispatched it.
    public var settled: Bool
    /// The walk stopped at its item limit.
    public var truncated: Bool
}

extension Evento {
    /// Most items a tree walk reads.
    public static let maxTreeItems = 10_000
    /// Most events (and most commands) read as caused by one item.
    public static let maxCausedPerItem = 1000

    /// The command's tree as it stands.
    public func tree(of id: String, maxItems: Int = Evento.maxTreeItems) async throws -> CommandTree {
        guard let root = try await store.command(id: id) else { throw EventoError.notFound("no command with id \"\(id)\"") }
        var settled = root.status.isFinal
        var events: [EventEnvelope] = []
        var commands: [CommandRecord] = []
        var queue: Deque<String> = [id]
        var seen: Set<String> = [id]
        var cursors: [String: Int64] = [:]
        let dispatchers = functions.dispatchers()
        var truncated = false
        walk: while let next = queue.popFirst() {
            let caused = try await store.items(causedBy: next, limit: Self.maxCausedPerItem)
            // The index gives at most this many of each kind: a kind that filled it may have left some out.
            let causedEvents = caused.reduce(0) { n, item in if case .event = item { n + 1 } else { n } }
            if causedEvents >= Self.maxCausedPerItem || caused.count - causedEvents >= Self.maxCausedPerItem { truncated = true }
            for item in caused {
                guard seen.insert(item.id).inserted else { continue }
                guard events.count + commands.count < maxItems else {
                    truncated = true
                    break walk
                }
                switch item {
                case .event(let e):
                    events.append(e)
                    // A dispatcher that has not passed this event yet may still derive commands from it.
                    for d in dispatchers where d.receives(e) {
                        let name = DispatchRelay.cursorName(d.name)
                        if cursors[name] == nil { cursors[name] = try await store.cursor(name) ?? 0 }
                        if cursors[name]! < e.position { settled = false }
                    }
                case .command(let c):
                    commands.append(c)
                    if !c.status.isFinal { settled = false }
                }
                queue.append(item.id)
            }
        }
        events.sort { $0.position < $1.position }
        return CommandTree(command: root, events: events, commands: commands, settled: settled && !truncated, truncated: truncated)
    }

    /// Waits until the command's tree has settled (polling the log, 5 ms apart at first, then up to
    /// 100 ms), or until `timeout`; the tree as it stands then.
    public func settledTree(of id: String, timeout: Duration) async throws -> CommandTree {
        let deadline = ContinuousClock.now + timeout
        var pause = Duration.milliseconds(5)
        while true {
            let tree = try await tree(of: id)
            if tree.settled || tree.truncated || ContinuousClock.now >= deadline { return tree }
            let left = deadline - ContinuousClock.now
            try await Task.sleep(for: min(pause, left))
            pause = min(pause * 2, .milliseconds(100))
        }
    }
}
