import EventoCore

extension SQLiteEventStore: ConsoleQueries {
    /// One index seek per id (`UNIQUE(entity, sequence)` orders the events by entity), so the cost is the
    /// page's size, not the number of events of the entities.
    public func entityIds(prefix: String, after: String?, limit: Int) async throws -> [String] {
        try await readers.read { c in
            let s = try c.statement("SELECT entity FROM events WHERE entity > ?1 ORDER BY entity LIMIT 1")
            var out: [String] = []
            var cursor = max(after ?? "", prefix)
            // An id equal to the prefix itself sorts first and is not `>` the prefix: look it up once.
            if (after ?? "") < prefix {
                let exact = try c.statement("SELECT 1 FROM events WHERE entity = ?1 LIMIT 1")
                try exact.bind(1, prefix)
                defer { exact.reset() }
                if try exact.step() { out.append(prefix) }
            }
            while out.count < limit {
                try s.bind(1, cursor)
                defer { s.reset() }
                guard try s.step() else { break }
                let entity = s.string(0)
                guard entity.hasPrefix(prefix) else { break }
                out.append(entity)
                cursor = entity
            }
            return out
        }
    }

    /// Pending and dead commands come through their partial indexes; the other statuses walk the log
    /// backwards from `beforeSeq` until the page is full.
    public func commands(_ filter: CommandFilter, beforeSeq: Int64?, limit: Int) async throws -> [(seq: Int64, record: CommandRecord)] {
        let condition = filter.sqlCondition()
        return try await readers.read { c in
            let s = try c.statement(
                "SELECT seq, \(CommandRows.columns) FROM commands WHERE \(condition) AND seq < ?1 ORDER BY seq DESC LIMIT ?2")
            try s.bind(1, beforeSeq ?? Int64.max)
            try s.bind(2, limit)
            defer { s.reset() }
            var out: [(Int64, CommandRecord)] = []
            while try s.step() { out.append((s.int64(0), CommandRows.row(s, offset: 1))) }
            return out
        }
    }
}
