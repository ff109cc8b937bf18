import EventoCore

extension InMemoryStore: ConsoleQueries {
    public func entityIds(prefix: String, after: String?, limit: Int) async throws -> [String] {
        try read { s in
            let ids = s.streams.keys.filter { id in id.hasPrefix(prefix) && (after.map { id > $0 } ?? true) }.sorted()
            return Array(ids.prefix(limit))
        }
    }

    public func commands(_ filter: CommandFilter, beforeSeq: Int64?, limit: Int) async throws -> [(seq: Int64, record: CommandRecord)] {
        try read { s in
            var out: [(seq: Int64, record: CommandRecord)] = []
            var i = min(s.commands.count, Int(clamping: (beforeSeq ?? Int64.max) - 1)) - 1
            while i >= 0, out.count < limit {
                let c = s.commands[i]
                let matches: Bool
                switch filter {
                case .pending: matches = c.status == .pending
                case .scheduled: matches = c.isScheduled()
                case .retrying: matches = c.status == .pending && c.attempts > 0
                case .succeeded: matches = c.status == .succeeded
                case .failed: matches = c.status == .failed
                case .dead: matches = c.status == .dead
                }
                if matches { out.append((Int64(i + 1), c)) }
                i -= 1
            }
            return out
        }
    }
}
