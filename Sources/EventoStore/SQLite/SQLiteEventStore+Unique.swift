import EventoCore

extension SQLiteEventStore: UniqueIndex {
    /// Reserves each unique value for its entity (releasing what the entity held before under that field).
    /// - Throws: `UniqueConflict` when another entity holds one; the caller's savepoint undoes the rest.
    static func reserve(_ values: [UniqueValue], in tx: WriteTransaction) throws {
        guard !values.isEmpty else { return }
        let c = tx.connection
        let holder = try c.statement("SELECT entity FROM unique_values WHERE aggregate = ?1 AND field = ?2 AND value = ?3")
        let release = try c.statement("DELETE FROM unique_values WHERE aggregate = ?1 AND field = ?2 AND entity = ?3")
        let take = try c.statement("INSERT INTO unique_values(aggregate, field, value, entity) VALUES(?1, ?2, ?3, ?4)")
        for u in values {
            if let value = u.value {
                try holder.bind(1, u.aggregate)
                try holder.bind(2, u.field)
                try holder.bind(3, value)
                let held = try holder.step() ? holder.string(0) : nil
                holder.reset()
                if held == u.entity.rawValue { continue }
                if let held { throw UniqueConflict(aggregate: u.aggregate, field: u.field, value: value, holder: held) }
            }
            try release.bind(1, u.aggregate)
            try release.bind(2, u.field)
            try release.bind(3, u.entity.rawValue)
            _ = try release.step()
            release.reset()
            if let value = u.value {
                try take.bind(1, u.aggregate)
                try take.bind(2, u.field)
                try take.bind(3, value)
                try take.bind(4, u.entity.rawValue)
                _ = try take.step()
                take.reset()
            }
        }
    }

    public func entity(aggregate: String, field: String, value: String) async throws -> EntityId? {
        try await readers.read { c in
            let s = try c.statement("SELECT entity FROM unique_values WHERE aggregate = ?1 AND field = ?2 AND value = ?3")
            try s.bind(1, aggregate)
            try s.bind(2, field)
            try s.bind(3, value)
            defer { s.reset() }
            return try s.step() ? EntityId(stored: s.string(0)) : nil
        }
    }
}

extension SQLiteEventStore: SnapshotListing {
    public func replace(_ snapshot: Snapshot, uniqueValues: [UniqueValue]) async throws {
        try await writer.perform { tx in
            if !uniqueValues.isEmpty {
                let stored = try tx.connection.statement("SELECT version FROM snapshots WHERE entity = ?1")
                try stored.bind(1, snapshot.entity.rawValue)
                let newer = try stored.step() && stored.int64(0) > snapshot.version
                stored.reset()
                if newer { return }
                // A conflict throws before the snapshot is written; the write's savepoint undoes the rest.
                try Self.reserve(uniqueValues, in: tx)
            }
            let s = try tx.connection.statement(
                """
                INSERT INTO snapshots(entity, version, state, schema_id, updated_at) VALUES(?1, ?2, ?3, ?4, ?5)
                ON CONFLICT(entity) DO UPDATE SET version = excluded.version, state = excluded.state,
                    schema_id = excluded.schema_id, updated_at = excluded.updated_at
                WHERE excluded.version >= snapshots.version
                """)
            try s.bind(1, snapshot.entity.rawValue)
            try s.bind(2, snapshot.version)
            try s.bind(3, snapshot.state.text)
            try s.bind(4, snapshot.schemaId.map(Int64.init))
            try s.bind(5, tx.now.millisecondsSinceEpoch)
            defer { s.reset() }
            _ = try s.step()
        }
    }

    public func snapshots(aggregate: String, where filters: [(field: String, value: String)], after: String?, limit: Int) async throws -> [Snapshot] {
        try await readers.read { c in
            var sql = "SELECT entity, version, state, schema_id FROM snapshots WHERE entity > ?1 AND entity < ?2"
            for i in filters.indices {
                let path = Int32(3 + 2 * i)
                sql += """
                     AND (CASE json_type(state, ?\(path)) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false'
                          ELSE CAST(json_extract(state, ?\(path)) AS TEXT) END) = ?\(path + 1)
                    """
            }
            sql += " ORDER BY entity LIMIT ?\(3 + 2 * filters.count)"
            let s = try c.statement(sql)
            let low = aggregate + ":"
            try s.bind(1, after.map { max($0, low) } ?? low)
            try s.bind(2, aggregate + ":\u{10FFFF}")
            for (i, f) in filters.enumerated() {
                try s.bind(Int32(3 + 2 * i), "$.\"\(f.field)\"")
                try s.bind(Int32(4 + 2 * i), f.value)
            }
            try s.bind(Int32(3 + 2 * filters.count), limit)
            defer { s.reset() }
            var out: [Snapshot] = []
            while try s.step() {
                out.append(
                    Snapshot(entity: EntityId(stored: s.string(0)), version: s.int64(1), state: RawJSON(trusted: s.string(2)), schemaId: s.optionalInt64(3).map(Int.init)))
            }
            return out
        }
    }
}
