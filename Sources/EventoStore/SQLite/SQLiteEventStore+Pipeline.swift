import EventoCore

/// The command log, snapshots, cursors, dead dispatches and function registrations.
extension SQLiteEventStore {
    // MARK: Commands

    public func submit(_ commands: [NewCommand]) async throws -> [CommandSubmission] {
        guard !commands.isEmpty else { return [] }
        return try await writer.perform { tx in try Self.insert(commands, in: tx) }
    }

    static func insert(_ commands: [NewCommand], in tx: WriteTransaction) throws -> [CommandSubmission] {
        let c = tx.connection
        var out: [CommandSubmission] = []
        for (index, cmd) in commands.enumerated() {
            let record = cmd.record(at: tx.now)
            if try insert(record, in: tx, ifAbsent: true) {
                out.append(CommandSubmission(record: record, isNew: true, seq: c.lastInsertRowID))
                continue
            }
            guard let stored = try CommandRows.command(id: cmd.id, c) else {
                throw EventoError(.internal, "command \(cmd.id) was neither inserted nor found")
            }
            // The same id for another entity or type, or with another payload, is another command.
            try checkSame(record, stored, index: index)
            out.append(CommandSubmission(record: stored, isNew: false))
        }
        return out
    }

    public func pendingCommands(afterSeq: Int64, limit: Int) async throws -> [(seq: Int64, record: CommandRecord)] {
        try await readers.read { c in
            let s = try c.statement(
                "SELECT seq, \(CommandRows.columns) FROM commands WHERE status = 'pending' AND seq > ?1 ORDER BY seq LIMIT ?2")
            try s.bind(1, afterSeq)
            try s.bind(2, limit)
            defer { s.reset() }
            var out: [(Int64, CommandRecord)] = []
            while try s.step() { out.append((s.int64(0), CommandRows.row(s, offset: 1))) }
            return out
        }
    }

    /// One process owns this store: there is no lease to check (`fence` is for clustered stores).
    public func recordFailure(_ command: CommandRecord, status: CommandStatus, attempts: Int, error: String, fence: Fence?) async throws -> CommandRecord {
        try await writer.perform { tx in
            var record = command
            record.status = status
            record.attempts = attempts
            record.lastError = error
            record.updatedAt = tx.now
            switch try Self.writeOutcome(record, resultEventIds: nil, in: tx) {
            case .written(let createdAt):
                record.createdAt = createdAt
                return record
            case .final(let stored): return stored
            }
        }
    }

    public func complete(_ completion: CommandCompletion) async throws -> CompletionResult {
        try await writer.perform { tx in
            var events = completion.events
            for i in events.indices { events[i].expectedVersion = .exact(completion.expectedVersion + Int64(i)) }
            var record = completion.command
            record.status = .succeeded
            record.attempts = completion.attempts
            record.lastError = nil
            record.resultEventIds = events.map(\.id)
            record.updatedAt = tx.now
            var ids = JSONWriter()
            ids.array(record.resultEventIds) { w, id in w.string(id) }
            // Not logged yet: one insert (the common case of a waited-for command); else the outcome onto its row.
            let inserted = try !completion.isLogged && Self.insert(record, in: tx, ifAbsent: true)
            if !inserted {
                switch try Self.writeOutcome(record, resultEventIds: ids.string, in: tx) {
                case .written(let createdAt): record.createdAt = createdAt
                case .final(let stored): return .alreadyFinal(stored)
                }
            }
            let result = try Self.append(events, in: tx, replays: .refuse)
            if let snapshot = completion.snapshot { try Self.save(snapshot, in: tx) }
            try Self.reserve(completion.uniqueValues, in: tx)
            return .committed(record, result.events)
        }
    }

    /// What `writeOutcome` did.
    enum OutcomeWrite {
        /// The record's outcome is on its row (updated, or inserted when the log had no row yet), which was
        /// created at this time.
        case written(createdAt: Timestamp)
        /// The log holds the command in a final status already: nothing was written.
        case final(CommandRecord)
    }

    /// Writes a command's outcome (status, attempts, error, and `resultEventIds` when given) onto its pending
    /// row, or inserts the row when the log has none; a command finished meanwhile keeps its end.
    /// - Throws: `IdempotencyConflict` when the log holds another command under this id.
    static func writeOutcome(_ record: CommandRecord, resultEventIds: String?, in tx: WriteTransaction) throws -> OutcomeWrite {
        let c = tx.connection
        // The row of this very command (same entity, type and payload text), still pending: one statement.
        if let createdAt = try update(record, resultEventIds: resultEventIds, matching: true, in: tx) { return .written(createdAt: createdAt) }
        guard let stored = try CommandRows.command(id: record.id, c) else {
            try insert(record, in: tx)
            return .written(createdAt: record.createdAt)
        }
        try checkSame(record, stored)
        guard stored.status == .pending else { return .final(stored) }
        // Pending, its payload written otherwise (the same JSON).
        try update(record, resultEventIds: resultEventIds, matching: false, in: tx)
        return .written(createdAt: stored.createdAt)
    }

    /// Sets the outcome columns of a pending row; `matching`: only if the row has the record's entity, type
    /// and payload text. Returns the row's creation time, nil when no row changed.
    @discardableResult
    private static func update(_ r: CommandRecord, resultEventIds: String?, matching: Bool, in tx: WriteTransaction) throws -> Timestamp? {
        let s = try tx.connection.statement(
            """
            UPDATE commands SET status = ?2, attempts = ?3, last_error = ?4, result_event_ids = COALESCE(?5, result_event_ids),
                updated_at = ?6 WHERE id = ?1 AND status = 'pending'
            """ + (matching ? " AND entity = ?7 AND type = ?8 AND payload = ?9" : "") + " RETURNING created_at")
        try s.bind(1, r.id)
        try s.bind(2, r.status.rawValue)
        try s.bind(3, r.attempts)
        try s.bind(4, r.lastError)
        try s.bind(5, resultEventIds)
        try s.bind(6, r.updatedAt.millisecondsSinceEpoch)
        if matching {
            try s.bind(7, r.entity.rawValue)
            try s.bind(8, r.type)
            try s.bind(9, r.payload.text)
        }
        defer { s.reset() }
        return try s.step() ? Timestamp(millisecondsSinceEpoch: s.int64(0)) : nil
    }

    /// Throws when the log holds another command under `command`'s id (`CommandRecord.conflict(with:)`).
    static func checkSame(_ command: CommandRecord, _ stored: CommandRecord, index: Int = 0) throws {
        if let conflict = command.conflict(with: stored, index: index) { throw conflict }
    }

    /// Adds a command's row as the record says.
    /// - Parameter ifAbsent: do nothing when the id is taken (and return false) instead of throwing.
    /// - Returns: whether the row was added.
    @discardableResult
    static func insert(_ r: CommandRecord, in tx: WriteTransaction, ifAbsent: Bool = false) throws -> Bool {
        let s = try tx.connection.statement(
            """
            INSERT INTO commands(id, entity, type, payload, causation_id, causation_kind, correlation_id, traceparent,
                status, attempts, last_error, result_event_ids, next_attempt_at, created_at, updated_at, not_before)
            VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14, ?15)
            """ + (ifAbsent ? " ON CONFLICT(id) DO NOTHING" : ""))
        var ids = JSONWriter()
        ids.array(r.resultEventIds) { w, id in w.string(id) }
        try s.bind(1, r.id)
        try s.bind(2, r.entity.rawValue)
        try s.bind(3, r.type)
        try s.bind(4, r.payload.text)
        try s.bind(5, r.causationId)
        try s.bind(6, r.causationKind.rawValue)
        try s.bind(7, r.correlationId)
        try s.bind(8, r.traceparent)
        try s.bind(9, r.status.rawValue)
        try s.bind(10, r.attempts)
        try s.bind(11, r.lastError)
        try s.bind(12, ids.string)
        try s.bind(13, r.createdAt.millisecondsSinceEpoch)
        try s.bind(14, r.updatedAt.millisecondsSinceEpoch)
        try s.bind(15, r.notBefore?.millisecondsSinceEpoch)
        try s.step()
        return tx.connection.changes > 0
    }

    public func deadCommands(limit: Int) async throws -> [CommandRecord] {
        try await readers.read { c in
            let s = try c.statement("SELECT \(CommandRows.columns) FROM commands WHERE status = 'dead' ORDER BY updated_at DESC LIMIT ?1")
            try s.bind(1, limit)
            return try CommandRows.all(s)
        }
    }

    public func revive(commandId: String) async throws -> CommandRecord? {
        try await writer.perform { tx in
            let s = try tx.connection.statement(
                "UPDATE commands SET status = 'pending', attempts = 0, updated_at = ?2 WHERE id = ?1 AND status IN ('dead', 'failed')")
            try s.bind(1, commandId)
            try s.bind(2, tx.now.millisecondsSinceEpoch)
            try s.step()
            return try CommandRows.command(id: commandId, tx.connection)
        }
    }

    // MARK: Snapshots

    public func snapshot(of entity: EntityId) async throws -> Snapshot? {
        try await readers.read { c in
            let s = try c.statement("SELECT version, state, schema_id FROM snapshots WHERE entity = ?1")
            try s.bind(1, entity.rawValue)
            defer { s.reset() }
            guard try s.step() else { return nil }
            return Snapshot(entity: entity, version: s.int64(0), state: RawJSON(trusted: s.string(1)), schemaId: s.optionalInt64(2).map(Int.init))
        }
    }

    public func save(_ snapshot: Snapshot) async throws {
        try await writer.perform { tx in try Self.save(snapshot, in: tx) }
    }

    static func save(_ snapshot: Snapshot, in tx: WriteTransaction) throws {
        let s = try tx.connection.statement(
            """
            INSERT INTO snapshots(entity, version, state, schema_id, updated_at) VALUES(?1, ?2, ?3, ?4, ?5)
            ON CONFLICT(entity) DO UPDATE SET version = excluded.version, state = excluded.state,
                schema_id = excluded.schema_id, updated_at = excluded.updated_at
            WHERE excluded.version > snapshots.version
            """)
        try s.bind(1, snapshot.entity.rawValue)
        try s.bind(2, snapshot.version)
        try s.bind(3, snapshot.state.text)
        try s.bind(4, snapshot.schemaId.map(Int64.init))
        try s.bind(5, tx.now.millisecondsSinceEpoch)
        try s.step()
    }

    // MARK: Cursors and dispatch

    public func cursor(_ name: String) async throws -> Int64? {
        try await readers.read { c in
            let s = try c.statement("SELECT position FROM relay_cursors WHERE name = ?1")
            try s.bind(1, name)
            defer { s.reset() }
            return try s.step() ? s.int64(0) : nil
        }
    }

    public func setCursor(_ name: String, to position: Int64) async throws {
        try await writer.perform { tx in try Self.setCursor(name, to: position, in: tx) }
    }

    public func removeCursor(_ name: String) async throws {
        try await writer.perform { tx in
            let s = try tx.connection.statement("DELETE FROM relay_cursors WHERE name = ?1")
            try s.bind(1, name)
            try s.step()
        }
    }

    static func setCursor(_ name: String, to position: Int64, in tx: WriteTransaction) throws {
        let s = try tx.connection.statement(
            """
            INSERT INTO relay_cursors(name, position, updated_at) VALUES(?1, ?2, ?3)
            ON CONFLICT(name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at
            """)
        try s.bind(1, name)
        try s.bind(2, position)
        try s.bind(3, tx.now.millisecondsSinceEpoch)
        try s.step()
    }

    public func commit(_ dispatch: DispatchCommit) async throws -> [CommandRecord] {
        try await writer.perform { tx in
            let submitted = try Self.insert(dispatch.commands, in: tx)
            for d in dispatch.deadDispatches {
                let s = try tx.connection.statement(
                    """
                    INSERT INTO dead_dispatches(id, dispatcher, event_id, attempts, last_error, created_at)
                    VALUES(?1, ?2, ?3, ?4, ?5, ?6)
                    ON CONFLICT(id) DO UPDATE SET attempts = excluded.attempts, last_error = excluded.last_error
                    """)
                try s.bind(1, d.id)
                try s.bind(2, d.dispatcher)
                try s.bind(3, d.eventId)
                try s.bind(4, d.attempts)
                try s.bind(5, d.lastError)
                try s.bind(6, d.createdAt.millisecondsSinceEpoch)
                try s.step()
            }
            if !dispatch.cursorName.isEmpty { try Self.setCursor(dispatch.cursorName, to: dispatch.position, in: tx) }
            return submitted.filter(\.isNew).map(\.record)
        }
    }

    public func deadDispatches(limit: Int) async throws -> [DeadDispatch] {
        try await readers.read { c in
            let s = try c.statement(
                "SELECT id, dispatcher, event_id, attempts, last_error, created_at FROM dead_dispatches ORDER BY created_at DESC LIMIT ?1")
            try s.bind(1, limit)
            defer { s.reset() }
            var out: [DeadDispatch] = []
            while try s.step() { out.append(Self.deadDispatch(s)) }
            return out
        }
    }

    public func deadDispatch(id: String) async throws -> DeadDispatch? {
        try await readers.read { c in
            let s = try c.statement(
                "SELECT id, dispatcher, event_id, attempts, last_error, created_at FROM dead_dispatches WHERE id = ?1")
            try s.bind(1, id)
            defer { s.reset() }
            return try s.step() ? Self.deadDispatch(s) : nil
        }
    }

    static func deadDispatch(_ s: SQLiteStatement) -> DeadDispatch {
        DeadDispatch(
            id: s.string(0), dispatcher: s.string(1), eventId: s.string(2), attempts: Int(s.int64(3)), lastError: s.string(4),
            createdAt: Timestamp(millisecondsSinceEpoch: s.int64(5)))
    }

    public func removeDeadDispatch(id: String) async throws {
        try await writer.perform { tx in
            let s = try tx.connection.statement("DELETE FROM dead_dispatches WHERE id = ?1")
            try s.bind(1, id)
            try s.step()
        }
    }

    // MARK: Functions

    public func functionDefinitions() async throws -> [(name: String, definition: RawJSON)] {
        try await readers.read { c in
            let s = try c.statement("SELECT name, definition FROM functions ORDER BY name")
            defer { s.reset() }
            var out: [(String, RawJSON)] = []
            while try s.step() { out.append((s.string(0), RawJSON(trusted: s.string(1)))) }
            return out
        }
    }

    public func saveFunction(name: String, definition: RawJSON) async throws {
        try await writer.perform { tx in
            let s = try tx.connection.statement(
                """
                INSERT INTO functions(name, definition, created_at) VALUES(?1, ?2, ?3)
                ON CONFLICT(name) DO UPDATE SET definition = excluded.definition
                """)
            try s.bind(1, name)
            try s.bind(2, definition.text)
            try s.bind(3, tx.now.millisecondsSinceEpoch)
            try s.step()
        }
    }

    public func deleteFunction(name: String) async throws -> Bool {
        try await writer.perform { tx in
            let s = try tx.connection.statement("DELETE FROM functions WHERE name = ?1")
            try s.bind(1, name)
            try s.step()
            return tx.connection.changes > 0
        }
    }
}
