import EventoCore
import PostgresNIO

extension PostgresStore: ViewStore {
    static let projectorColumns = "name, generation, cursor, rebuild_cursor, status, last_error, updated_at"

    static func projector(_ row: PostgresRow) throws -> ProjectorState {
        let (name, generation, cursor, rebuild, status, error, updated) = try row.decode((String, Int64, Int64, Int64?, String, String?, Int64).self)
        return ProjectorState(
            name: name, generation: generation, cursor: cursor, rebuildCursor: rebuild, status: ProjectorState.Status(rawValue: status) ?? .running,
            lastError: error, updatedAt: Timestamp(millisecondsSinceEpoch: updated))
    }

    static func projector(_ name: String, in tx: PostgresTransaction, lock: Bool = true) async throws -> ProjectorState? {
        try await tx.query(
            PostgresQuery(unsafeSQL: "SELECT \(projectorColumns) FROM projectors WHERE name = $1" + (lock ? " FOR UPDATE" : ""), binds: {
                var b = PostgresBindings()
                b.append(name)
                return b
            }())
        ).first.map(projector)
    }

    static func save(_ p: ProjectorState, in tx: PostgresTransaction) async throws {
        try await tx.query(
            """
            INSERT INTO projectors(name, generation, cursor, rebuild_cursor, status, last_error, updated_at)
            VALUES(\(p.name), \(p.generation), \(p.cursor), \(p.rebuildCursor), \(p.status.rawValue), \(PostgresText.storable(p.lastError)), \(tx.now.millisecondsSinceEpoch))
            ON CONFLICT (name) DO UPDATE SET generation = excluded.generation, cursor = excluded.cursor,
                rebuild_cursor = excluded.rebuild_cursor, status = excluded.status, last_error = excluded.last_error,
                updated_at = excluded.updated_at
            """)
    }

    /// Reads the documents a batch touches once, applies its operations in memory, and writes the results
    /// in two statements (upserts, deletes): a batch costs a handful of round trips however many operations.
    public func commitProjection(_ commit: ProjectionCommit) async throws {
        try await writer.perform { tx in
            var p = try await Self.projector(commit.projector, in: tx) ?? ProjectorState(name: commit.projector)
            let track = p.track
            guard track.generation == commit.generation, track.cursor == commit.from else {
                throw ProjectionConflict(projector: commit.projector, expected: commit.from)
            }
            let views = Array(Set(commit.operations.map(\.view)))
            var owners: [String: String] = [:]
            for row in try await tx.query("SELECT name, projector FROM views WHERE name = ANY(\(views))") {
                let (name, projector) = try row.decode((String, String).self)
                owners[name] = projector
            }
            for (view, holder) in owners where holder != commit.projector {
                throw EventoError(.conflict, "view \(view) belongs to projector \(holder)", field: "view")
            }
            let unclaimed = views.filter { owners[$0] == nil }
            if !unclaimed.isEmpty {
                try await tx.query(
                    """
                    INSERT INTO views(name, projector, generation) SELECT v, \(commit.projector), \(p.generation) FROM unnest(\(unclaimed)::text[]) AS v
                    """)
            }
            // The documents merged into, as they stand.
            var docs: [String: JSONValue?] = [:]
            let merged = commit.operations.filter { if case .merge = $0 { return true } else { return false } }
            if !merged.isEmpty {
                for row in try await tx.query(
                    """
                    SELECT d.view, d.key, d.doc FROM view_documents d JOIN unnest(\(merged.map(\.view))::text[], \(merged.map(\.key))::text[]) AS u(v, k)
                    ON d.view = u.v AND d.key = u.k WHERE d.generation = \(commit.generation)
                    """)
                {
                    let (view, key, doc) = try row.decode((String, String, String).self)
                    docs["\(view)\u{0}\(key)"] = try JSONParser.parse(doc)
                }
            }
            var order: [String] = []
            for op in commit.operations {
                let slot = "\(op.view)\u{0}\(op.key)"
                if docs[slot] == nil { order.append(slot) }
                let current = docs[slot] ?? nil
                docs[slot] = .some(op.apply(to: current))
            }
            var putViews: [String] = [], putKeys: [String] = [], putDocs: [String] = []
            var delViews: [String] = [], delKeys: [String] = []
            for (slot, doc) in docs {
                let parts = slot.split(separator: "\u{0}", maxSplits: 1, omittingEmptySubsequences: false)
                if let doc = doc ?? nil {
                    putViews.append(String(parts[0]))
                    putKeys.append(String(parts[1]))
                    putDocs.append(try commit.stored(String(parts[0]), doc))
                } else {
                    delViews.append(String(parts[0]))
                    delKeys.append(String(parts[1]))
                }
            }
            if !putViews.isEmpty {
                try await tx.query(
                    """
                    INSERT INTO view_documents(view, generation, key, doc)
                    SELECT v, \(commit.generation), k, d FROM unnest(\(putViews)::text[], \(putKeys)::text[], \(putDocs)::text[]) AS u(v, k, d)
                    ON CONFLICT (view, generation, key) DO UPDATE SET doc = excluded.doc
                    """)
            }
            if !delViews.isEmpty {
                try await tx.query(
                    """
                    DELETE FROM view_documents d USING unnest(\(delViews)::text[], \(delKeys)::text[]) AS u(v, k)
                    WHERE d.view = u.v AND d.key = u.k AND d.generation = \(commit.generation)
                    """)
            }
            if p.rebuildCursor != nil { p.rebuildCursor = commit.to } else { p.cursor = commit.to }
            if p.status == .parked { p.status = p.rebuildCursor != nil ? .rebuilding : .running }
            p.lastError = nil
            try await Self.save(p, in: tx)
        }
    }

    public func projectorState(_ name: String) async throws -> ProjectorState? {
        var b = PostgresBindings()
        b.append(name)
        return try await read(PostgresQuery(unsafeSQL: "SELECT \(Self.projectorColumns) FROM projectors WHERE name = $1", binds: b)).first.map(Self.projector)
    }

    public func projectorStates() async throws -> [ProjectorState] {
        try await read(PostgresQuery(unsafeSQL: "SELECT \(Self.projectorColumns) FROM projectors ORDER BY name", binds: PostgresBindings())).map(Self.projector)
    }

    @discardableResult
    public func setProjectorStatus(_ name: String, status: ProjectorState.Status, lastError: String?, at track: (generation: Int64, cursor: Int64)?) async throws -> Bool {
        try await writer.perform { tx in
            var p = try await Self.projector(name, in: tx) ?? ProjectorState(name: name)
            guard p.isAt(track) else { return false }
            p.status = status
            p.lastError = lastError
            try await Self.save(p, in: tx)
            return true
        }
    }

    public func beginRebuild(_ name: String) async throws -> ProjectorState {
        try await writer.perform { tx in
            var p = try await Self.projector(name, in: tx) ?? ProjectorState(name: name)
            try await tx.query(
                """
                DELETE FROM view_documents WHERE generation = \(p.generation + 1) AND view IN (SELECT name FROM views WHERE projector = \(name))
                """)
            p.rebuildCursor = 0
            p.status = .rebuilding
            p.lastError = nil
            try await Self.save(p, in: tx)
            return p
        }
    }

    public func finishRebuild(_ name: String, at rebuildCursor: Int64) async throws {
        try await writer.perform { tx in
            guard var p = try await Self.projector(name, in: tx), let rebuilt = p.rebuildCursor, rebuilt == rebuildCursor else {
                throw ProjectionConflict(projector: name, expected: rebuildCursor)
            }
            let old = p.generation
            try await tx.query("UPDATE views SET generation = \(old + 1) WHERE projector = \(name)")
            try await tx.query("DELETE FROM view_documents WHERE generation = \(old) AND view IN (SELECT name FROM views WHERE projector = \(name))")
            p.generation = old + 1
            p.cursor = rebuilt
            p.rebuildCursor = nil
            p.status = .running
            try await Self.save(p, in: tx)
        }
    }

    static let documentQuery = """
        SELECT d.key, d.doc, p.cursor FROM views v JOIN projectors p ON p.name = v.projector
        JOIN view_documents d ON d.view = v.name AND d.generation = v.generation
        """

    static func document(_ row: PostgresRow) throws -> ViewDocument {
        let (key, doc, position) = try row.decode((String, String, Int64).self)
        return ViewDocument(key: key, doc: RawJSON(trusted: doc), position: position)
    }

    public func viewDocument(view: String, key: String) async throws -> ViewDocument? {
        var b = PostgresBindings()
        b.append(view)
        b.append(key)
        return try await read(PostgresQuery(unsafeSQL: Self.documentQuery + " WHERE v.name = $1 AND d.key = $2", binds: b)).first.map(Self.document)
    }

    public func viewDocuments(view: String, prefix: String, after: String?, limit: Int) async throws -> [ViewDocument] {
        let (op, start) = after.map { $0 >= prefix ? (">", $0) : (">=", prefix) } ?? (">=", prefix)
        var b = PostgresBindings()
        b.append(view)
        b.append(start)
        b.append(prefix + "\u{10FFFF}")
        b.append(limit)
        return try await read(
            PostgresQuery(unsafeSQL: Self.documentQuery + " WHERE v.name = $1 AND d.key \(op) $2 AND d.key < $3 ORDER BY d.key LIMIT $4", binds: b)
        ).map(Self.document)
    }

    public func viewDocuments(view: String, keys: [String]) async throws -> [ViewDocument] {
        var b = PostgresBindings()
        b.append(view)
        b.append(keys)
        let found = try await read(PostgresQuery(unsafeSQL: Self.documentQuery + " WHERE v.name = $1 AND d.key = ANY($2::text[])", binds: b))
            .map(Self.document)
        let byKey = Dictionary(found.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        return keys.compactMap { byKey[$0] }
    }
}

extension PostgresStore: UniqueIndex {
    public func entity(aggregate: String, field: String, value: String) async throws -> EntityId? {
        var b = PostgresBindings()
        b.append(aggregate)
        b.append(field)
        b.append(value)
        return try await read(PostgresQuery(unsafeSQL: "SELECT entity FROM unique_values WHERE aggregate = $1 AND field = $2 AND value = $3", binds: b))
            .first.map { EntityId(stored: try $0.decode(String.self)) }
    }
}

extension PostgresStore: SnapshotListing {
    public func replace(_ snapshot: Snapshot, uniqueValues: [UniqueValue]) async throws {
        try await writer.perform { tx in
            if !uniqueValues.isEmpty {
                let stored = try await tx.query("SELECT version FROM snapshots WHERE entity = \(snapshot.entity.rawValue)")
                if let v = try stored.first?.decode(Int64.self), v > snapshot.version { return }
                // Reserved as a completion reserves them (a conflict throws: the job's savepoint undoes it).
                for u in uniqueValues {
                    if let value = u.value,
                        let held = try await tx.query(
                            "SELECT entity FROM unique_values WHERE aggregate = \(u.aggregate) AND field = \(u.field) AND value = \(value)"
                        ).first.map({ try $0.decode(String.self) }), held != u.entity.rawValue
                    {
                        throw UniqueConflict(aggregate: u.aggregate, field: u.field, value: value, holder: held)
                    }
                    try await tx.query(
                        "DELETE FROM unique_values WHERE aggregate = \(u.aggregate) AND field = \(u.field) AND entity = \(u.entity.rawValue)")
                    if let value = u.value {
                        try await tx.query(
                            "INSERT INTO unique_values(aggregate, field, value, entity) VALUES (\(u.aggregate), \(u.field), \(value), \(u.entity.rawValue))")
                    }
                }
            }
            try await tx.query(
                """
                INSERT INTO snapshots(entity, version, state, schema_id, updated_at)
                VALUES (\(snapshot.entity.rawValue), \(snapshot.version), \(snapshot.state.text), \(snapshot.schemaId), \(tx.now.millisecondsSinceEpoch))
                ON CONFLICT (entity) DO UPDATE SET version = excluded.version, state = excluded.state, schema_id = excluded.schema_id,
                    updated_at = excluded.updated_at
                WHERE excluded.version >= snapshots.version
                """)
        }
    }

    /// PostgreSQL's JSON operators refuse a document holding the escape `\u0000` (for any field of it, and
    /// for the whole query), which a state may hold: such a state is not filtered in SQL but by
    /// `Snapshot.matches`, and a page is refilled when that drops some.
    public func snapshots(aggregate: String, where filters: [(field: String, value: String)], after: String?, limit: Int) async throws -> [Snapshot] {
        let low = aggregate + ":"
        var cursor = after.map { max($0, low) } ?? low
        var found: [Snapshot] = []
        while found.count < limit {
            var b = PostgresBindings()
            b.append(cursor)
            b.append(aggregate + ":\u{10FFFF}")
            b.append("\\u0000")
            var sql = "SELECT entity, version, state, schema_id FROM snapshots WHERE entity COLLATE \"C\" > $1 AND entity COLLATE \"C\" < $2"
            for (i, f) in filters.enumerated() {
                b.append(f.field)
                b.append(f.value)
                sql += " AND CASE WHEN strpos(state, $3) > 0 THEN true ELSE state::jsonb ->> $\(4 + 2 * i) = $\(5 + 2 * i) END"
            }
            // A whole page each round (a refill asking only for what is missing would go row by row
            // through a run of states that do not match).
            b.append(limit)
            sql += " ORDER BY entity COLLATE \"C\" LIMIT $\(4 + 2 * filters.count)"
            let rows = try await read(PostgresQuery(unsafeSQL: sql, binds: b)).map { row in
                let (entity, version, state, schemaId) = try row.decode((String, Int64, String, Int?).self)
                return Snapshot(entity: EntityId(stored: entity), version: version, state: RawJSON(trusted: state), schemaId: schemaId)
            }
            found += rows.filter { filters.isEmpty || !$0.state.text.contains("\\u0000") || $0.matches(filters) }
            guard rows.count == limit, let last = rows.last else { break }
            cursor = last.entity.rawValue
        }
        return Array(found.prefix(limit))
    }
}
