import EventoCore

/// A view document's place in a batch.
private struct Slot: Hashable {
    var view: String
    var key: String
}

extension SQLiteEventStore: ViewStore {
    static let projectorColumns = "name, generation, cursor, rebuild_cursor, status, last_error, updated_at"

    static func projector(_ s: SQLiteStatement) -> ProjectorState {
        ProjectorState(
            name: s.string(0), generation: s.int64(1), cursor: s.int64(2), rebuildCursor: s.optionalInt64(3),
            status: ProjectorState.Status(rawValue: s.string(4)) ?? .running, lastError: s.optionalString(5),
            updatedAt: Timestamp(millisecondsSinceEpoch: s.int64(6)))
    }

    static func projector(_ name: String, _ c: SQLiteConnection) throws -> ProjectorState? {
        let s = try c.statement("SELECT \(projectorColumns) FROM projectors WHERE name = ?1")
        try s.bind(1, name)
        defer { s.reset() }
        return try s.step() ? projector(s) : nil
    }

    static func save(_ p: ProjectorState, _ tx: WriteTransaction) throws {
        let s = try tx.connection.statement(
            """
            INSERT INTO projectors(name, generation, cursor, rebuild_cursor, status, last_error, updated_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)
            ON CONFLICT(name) DO UPDATE SET generation = excluded.generation, cursor = excluded.cursor,
                rebuild_cursor = excluded.rebuild_cursor, status = excluded.status, last_error = excluded.last_error,
                updated_at = excluded.updated_at
            """)
        try s.bind(1, p.name)
        try s.bind(2, p.generation)
        try s.bind(3, p.cursor)
        try s.bind(4, p.rebuildCursor)
        try s.bind(5, p.status.rawValue)
        try s.bind(6, p.lastError)
        try s.bind(7, tx.now.millisecondsSinceEpoch)
        defer { s.reset() }
        _ = try s.step()
    }

    public func commitProjection(_ commit: ProjectionCommit) async throws {
        try await writer.perform { tx in
            let c = tx.connection
            var p = try Self.projector(commit.projector, c) ?? ProjectorState(name: commit.projector)
            let track = p.track
            guard track.generation == commit.generation, track.cursor == commit.from else {
                throw ProjectionConflict(projector: commit.projector, expected: commit.from)
            }
            var owners: [String: Bool] = [:]
            let owner = try c.statement("SELECT projector FROM views WHERE name = ?1")
            let claim = try c.statement("INSERT INTO views(name, projector, generation) VALUES(?1, ?2, ?3)")
            let read = try c.statement("SELECT doc FROM view_documents WHERE view = ?1 AND generation = ?2 AND key = ?3")
            let write = try c.statement(
                "INSERT INTO view_documents(view, generation, key, doc) VALUES(?1, ?2, ?3, ?4) ON CONFLICT(view, generation, key) DO UPDATE SET doc = excluded.doc")
            let remove = try c.statement("DELETE FROM view_documents WHERE view = ?1 AND generation = ?2 AND key = ?3")
            var docs: [Slot: JSONValue?] = [:]
            var order: [Slot] = []
            for op in commit.operations {
                if owners[op.view] == nil {
                    try owner.bind(1, op.view)
                    let holder = try owner.step() ? owner.string(0) : nil
                    owner.reset()
                    if let holder, holder != commit.projector {
                        throw EventoError(.conflict, "view \(op.view) belongs to projector \(holder)", field: "view")
                    }
                    if holder == nil {
                        // A view first written during a rebuild shows nothing until the swap.
                        try claim.bind(1, op.view)
                        try claim.bind(2, commit.projector)
                        try claim.bind(3, p.generation)
                        _ = try claim.step()
                        claim.reset()
                    }
                    owners[op.view] = true
                }
                // Documents are kept in memory for the batch: a key touched many times is read once (when a
                // merge needs it) and written once, as the last operation leaves it.
                let slot = Slot(view: op.view, key: op.key)
                var current: JSONValue?
                if let known = docs[slot] {
                    current = known
                } else if case .merge = op {
                    try read.bind(1, op.view)
                    try read.bind(2, commit.generation)
                    try read.bind(3, op.key)
                    if try read.step() { current = try JSONParser.parse(read.string(0)) }
                    read.reset()
                }
                if docs[slot] == nil { order.append(slot) }
                docs[slot] = .some(op.apply(to: current))
            }
            for slot in order {
                if let doc = docs[slot] ?? nil {
                    try write.bind(1, slot.view)
                    try write.bind(2, commit.generation)
                    try write.bind(3, slot.key)
                    try write.bind(4, try commit.stored(slot.view, doc))
                    _ = try write.step()
                    write.reset()
                } else {
                    try remove.bind(1, slot.view)
                    try remove.bind(2, commit.generation)
                    try remove.bind(3, slot.key)
                    _ = try remove.step()
                    remove.reset()
                }
            }
            if p.rebuildCursor != nil { p.rebuildCursor = commit.to } else { p.cursor = commit.to }
            if p.status == .parked { p.status = p.rebuildCursor != nil ? .rebuilding : .running }
            p.lastError = nil
            try Self.save(p, tx)
        }
    }

    public func projectorState(_ name: String) async throws -> ProjectorState? {
        try await readers.read { c in try Self.projector(name, c) }
    }

    public func projectorStates() async throws -> [ProjectorState] {
        try await readers.read { c in
            let s = try c.statement("SELECT \(Self.projectorColumns) FROM projectors ORDER BY name")
            defer { s.reset() }
            var out: [ProjectorState] = []
            while try s.step() { out.append(Self.projector(s)) }
            return out
        }
    }

    @discardableResult
    public func setProjectorStatus(_ name: String, status: ProjectorState.Status, lastError: String?, at track: (generation: Int64, cursor: Int64)?) async throws -> Bool {
        try await writer.perform { tx in
            var p = try Self.projector(name, tx.connection) ?? ProjectorState(name: name)
            guard p.isAt(track) else { return false }
            p.status = status
            p.lastError = lastError
            try Self.save(p, tx)
            return true
        }
    }

    public func beginRebuild(_ name: String) async throws -> ProjectorState {
        try await writer.perform { tx in
            var p = try Self.projector(name, tx.connection) ?? ProjectorState(name: name)
            let s = try tx.connection.statement(
                "DELETE FROM view_documents WHERE generation = ?2 AND view IN (SELECT name FROM views WHERE projector = ?1)")
            try s.bind(1, name)
            try s.bind(2, p.generation + 1)
            defer { s.reset() }
            _ = try s.step()
            p.rebuildCursor = 0
            p.status = .rebuilding
            p.lastError = nil
            try Self.save(p, tx)
            return p
        }
    }

    public func finishRebuild(_ name: String, at rebuildCursor: Int64) async throws {
        try await writer.perform { tx in
            let c = tx.connection
            guard var p = try Self.projector(name, c), let rebuilt = p.rebuildCursor, rebuilt == rebuildCursor else {
                throw ProjectionConflict(projector: name, expected: rebuildCursor)
            }
            let old = p.generation
            let swap = try c.statement("UPDATE views SET generation = ?2 WHERE projector = ?1")
            try swap.bind(1, name)
            try swap.bind(2, old + 1)
            _ = try swap.step()
            swap.reset()
            let drop = try c.statement("DELETE FROM view_documents WHERE generation = ?2 AND view IN (SELECT name FROM views WHERE projector = ?1)")
            try drop.bind(1, name)
            try drop.bind(2, old)
            _ = try drop.step()
            drop.reset()
            p.generation = old + 1
            p.cursor = rebuilt
            p.rebuildCursor = nil
            p.status = .running
            try Self.save(p, tx)
        }
    }

    static let documentQuery = """
        SELECT d.key, d.doc, p.cursor FROM views v JOIN projectors p ON p.name = v.projector
        JOIN view_documents d ON d.view = v.name AND d.generation = v.generation
        """

    public func viewDocument(view: String, key: String) async throws -> ViewDocument? {
        try await readers.read { c in
            let s = try c.statement(Self.documentQuery + " WHERE v.name = ?1 AND d.key = ?2")
            try s.bind(1, view)
            try s.bind(2, key)
            defer { s.reset() }
            return try s.step() ? ViewDocument(key: s.string(0), doc: RawJSON(trusted: s.string(1)), position: s.int64(2)) : nil
        }
    }

    public func viewDocuments(view: String, prefix: String, after: String?, limit: Int) async throws -> [ViewDocument] {
        try await readers.read { c in
            // From the prefix (or strictly after `after`) up to the last key with the prefix: keys with a
            // prefix sort before prefix + U+10FFFF (keys compare as bytes: BINARY collation).
            let (op, start) = after.map { $0 >= prefix ? (">", $0) : (">=", prefix) } ?? (">=", prefix)
            let s = try c.statement(Self.documentQuery + " WHERE v.name = ?1 AND d.key \(op) ?2 AND d.key < ?3 ORDER BY d.key LIMIT ?4")
            try s.bind(1, view)
            try s.bind(2, start)
            try s.bind(3, prefix + "\u{10FFFF}")
            try s.bind(4, limit)
            defer { s.reset() }
            var out: [ViewDocument] = []
            while try s.step() { out.append(ViewDocument(key: s.string(0), doc: RawJSON(trusted: s.string(1)), position: s.int64(2))) }
            return out
        }
    }

    public func viewDocuments(view: String, keys: [String]) async throws -> [ViewDocument] {
        try await readers.read { c in
            let s = try c.statement(Self.documentQuery + " WHERE v.name = ?1 AND d.key = ?2")
            var out: [ViewDocument] = []
            for key in keys {
                try s.bind(1, view)
                try s.bind(2, key)
                if try s.step() { out.append(ViewDocument(key: s.string(0), doc: RawJSON(trusted: s.string(1)), position: s.int64(2))) }
                s.reset()
            }
            return out
        }
    }
}
