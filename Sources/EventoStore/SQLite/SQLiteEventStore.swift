import CoreMetrics
import EventoCore
import Foundation
import Logging
import Synchronization

/// The embedded event store: one SQLite database in WAL mode, one writer thread with group commit and a
/// pool of reader threads.
public final class SQLiteEventStore: EventoStorage, @unchecked Sendable {
    // @unchecked: all mutable state lives in the writer (its thread), the reader pool (its threads) and
    // `versions` (a Mutex).

    public struct Configuration: Sendable {
        /// Directory holding `evento.sqlite` (created if missing).
        public var dataDirectory: String
        /// `true` (default): every commit is fsynced before its writers are answered (`synchronous=FULL`).
        /// `false`: `synchronous=NORMAL`, which in WAL mode may lose the last commits on power loss.
        public var durable: Bool = true
        /// Reader threads (and connections).
        public var readers: Int = 4
        /// Most writes folded into one transaction.
        public var maxGroupCommit: Int = 512
        /// Bytes of frames the WAL may hold (copied into the database or not) before the writer lets it start
        /// over, at the next background checkpoint (and the size the WAL file is truncated to when it does).
        public var walLimitBytes: Int = 1024 * 1024 * 1024
        /// How often the checkpointer copies the WAL into the database.
        public var checkpointInterval: Duration = .milliseconds(250)

        public init(dataDirectory: String) { self.dataDirectory = dataDirectory }

        public var databasePath: String { (dataDirectory as NSString).appendingPathComponent("evento.sqlite") }
    }

    public let configuration: Configuration
    /// Advances on every commit that wrote events.
    public let commits: CommitSignal
    /// Derives ids under this store's secret key (made at its creation, kept in `meta`).
    public let idDerivation: IdDerivation
    let writer: GroupCommitWriter
    /// The entity versions recent commits set (or reads found), for `knownVersion`: a copy of what the
    /// writer knows, updated after each commit before its writers are resumed. Bounded.
    let versions = KnownVersions(limit: 200_000)
    let readers: ReaderPool
    private let checkpointer: Checkpointer
    private let lock: DirectoryLock

    public init(configuration: Configuration, logger: Logger = Logger(label: "evento.store")) throws {
        self.configuration = configuration
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        lock = try DirectoryLock(directory: configuration.dataDirectory)
        let path = configuration.databasePath
        let writeConnection = try SQLiteConnection.open(path: path)
        try writeConnection.execute("PRAGMA journal_mode=WAL")
        try writeConnection.execute("PRAGMA synchronous=\(configuration.durable ? "FULL" : "NORMAL")")
        try writeConnection.execute("PRAGMA cache_size=-32768")  // 32 MiB
        try writeConnection.execute("PRAGMA temp_store=MEMORY")
        // Checkpoints run on the checkpointer's thread, never inside a commit; a WAL that starts over is
        // truncated to the limit (see Checkpointer).
        try writeConnection.execute("PRAGMA wal_autocheckpoint=0")
        try writeConnection.execute("PRAGMA journal_size_limit=\(configuration.walLimitBytes)")
        let pageSize = Int(try writeConnection.scalarInt("PRAGMA page_size") ?? 4096)
        let walRestart = WALRestart(restartFrames: Int64(configuration.walLimitBytes / max(512, pageSize)), pageSize: Int64(pageSize))
        try Schema.migrate(writeConnection)
        idDerivation = IdDerivation(key: try Self.idKey(writeConnection))
        let head = try writeConnection.scalarInt("SELECT COALESCE(MAX(position), 0) FROM events") ?? 0
        let commits = CommitSignal(head: head)
        self.commits = commits
        let versions = self.versions
        writer = GroupCommitWriter(connection: writeConnection, maxBatch: configuration.maxGroupCommit, walRestart: walRestart) { head, written in
            versions.raise(written)
            if let head { commits.advance(to: head) }
        }
        var readConnections: [SQLiteConnection] = []
        for _ in 0..<max(1, configuration.readers) {
            let c = try SQLiteConnection.open(path: path, readOnly: true)
            try c.execute("PRAGMA cache_size=-8192")
            readConnections.append(c)
        }
        readers = ReaderPool(connections: readConnections)
        checkpointer = try Checkpointer(path: path, interval: configuration.checkpointInterval, restart: walRestart, logger: logger)
        logger.info("opened event store", metadata: ["path": "\(path)", "head": "\(head)"])
    }

    /// The secret that derived ids are made with: created once, with the store, and never changed (a
    /// changed key would give a step redone after a crash other ids than its first run).
    static func idKey(_ c: SQLiteConnection) throws -> [UInt8] {
        let read = try c.statement("SELECT value FROM meta WHERE key = 'id_key'")
        defer { read.reset() }
        if try read.step(), let key = Identifiers.bytes(hex: read.string(0)), key.count >= 16 { return key }
        read.reset()
        let key = IdDerivation.newKey()
        let insert = try c.statement("INSERT INTO meta(key, value) VALUES('id_key', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        try insert.bind(1, Identifiers.hex(key))
        try insert.step()
        insert.reset()
        return key
    }

    /// Group-commit figures: transactions and the writes they carried.
    public var writerStatistics: WriterStatistics { writer.statistics }

    /// Finishes queued writes and stops the threads. The store is unusable afterwards.
    public func close() {
        writer.shutdown()
        checkpointer.shutdown()
        readers.shutdown()
        lock.release()
    }

    // MARK: Appends

    public func append(_ events: [NewEvent]) async throws -> AppendResult {
        guard !events.isEmpty else { return AppendResult(events: [], duplicates: 0) }
        return try await writer.perform { tx in try Self.append(events, in: tx) }
    }

    /// - Parameter replays: whether an event whose id is already stored is answered with the stored event
    ///   (an idempotent retry of `POST /events`) or refused (a command's own events are new by definition:
    ///   a stored one is somebody else's, never the command's result).
    static func append(_ events: [NewEvent], in tx: WriteTransaction, replays: ReplayPolicy = .answerStored) throws -> AppendResult {
        var out: [EventEnvelope] = []
        out.reserveCapacity(events.count)
        var duplicates = 0
        let insert = try tx.connection.statement(
            """
            INSERT INTO events(id, entity, sequence, type, time, payload, causation_id, causation_kind,
                correlation_id, traceparent, schema_id)
            VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT(id) DO NOTHING
            """
        )
        for (index, e) in events.enumerated() {
            let version = try tx.version(of: e.entity.rawValue)
            if !e.expectedVersion.matches(version) {
                // A replay of a stored event is answered with the stored event, whatever the version now.
                if replays == .answerStored, let stored = try storedDuplicate(of: e, index: index, connection: tx.connection) {
                    out.append(stored)
                    duplicates += 1
                    continue
                }
                throw VersionConflict(entity: e.entity, expected: e.expectedVersion, actual: version, index: index)
            }
            insert.reset()
            try insert.bind(1, e.id)
            try insert.bind(2, e.entity.rawValue)
            try insert.bind(3, version + 1)
            try insert.bind(4, e.type)
            let time = e.time ?? tx.now
            try insert.bind(5, time.millisecondsSinceEpoch)
            try insert.bind(6, e.payload.text)
            try insert.bind(7, e.causationId)
            try insert.bind(8, e.causationKind.rawValue)
            try insert.bind(9, e.correlationId)
            try insert.bind(10, e.traceparent)
            try insert.bind(11, e.schemaId.map(Int64.init))
            try insert.step()
            if tx.connection.changes == 0 {
                if replays == .refuse {
                    let stored = try EventRows.event(id: e.id, tx.connection)
                    throw IdempotencyConflict(
                        kind: .event, id: e.id, storedEntity: stored?.entity ?? e.entity, storedType: stored?.type ?? e.type, index: index)
                }
                guard let stored = try storedDuplicate(of: e, index: index, connection: tx.connection) else {
                    throw EventoError(.internal, "event \(e.id) was neither inserted nor found")
                }
                out.append(stored)
                duplicates += 1
                continue
            }
            let position = tx.connection.lastInsertRowID
            tx.setVersion(version + 1, of: e.entity.rawValue)
            tx.wroteEvent(at: position)
            out.append(
                EventEnvelope(
                    id: e.id, entity: e.entity, type: e.type, sequence: version + 1, position: position, time: time,
                    payload: e.payload, causationId: e.causationId, causationKind: e.causationKind,
                    correlationId: e.correlationId, traceparent: e.traceparent, schemaId: e.schemaId
                )
            )
        }
        let written = out.count - duplicates
        if written > 0 { EventoMetrics.eventsAppended.increment(by: Int64(written)) }
        return AppendResult(events: out, duplicates: duplicates)
    }

    /// The stored event with `e`'s id, if any; throws when that id belongs to a different event.
    private static func storedDuplicate(of e: NewEvent, index: Int, connection: SQLiteConnection) throws -> EventEnvelope? {
        guard let stored = try EventRows.event(id: e.id, connection) else { return nil }
        guard stored.entity == e.entity, stored.type == e.type else {
            throw IdempotencyConflict(kind: .event, id: e.id, storedEntity: stored.entity, storedType: stored.type, index: index)
        }
        return stored
    }

    // MARK: Reads

    public func event(id: String) async throws -> EventEnvelope? {
        try await readers.read { try EventRows.event(id: id, $0) }
    }

    public func events(entity: EntityId, fromSequence: Int64, limit: Int) async throws -> [EventEnvelope] {
        try await readers.read { c in
            let s = try c.statement(
                "SELECT \(EventRows.columns) FROM events WHERE entity = ?1 AND sequence >= ?2 ORDER BY sequence LIMIT ?3"
            )
            try s.bind(1, entity.rawValue)
            try s.bind(2, fromSequence)
            try s.bind(3, limit)
            return try EventRows.all(s)
        }
    }

    public func events(afterPosition: Int64, limit: Int) async throws -> [EventEnvelope] {
        try await readers.read { c in
            let s = try c.statement("SELECT \(EventRows.columns) FROM events WHERE position > ?1 ORDER BY position LIMIT ?2")
            try s.bind(1, afterPosition)
            try s.bind(2, limit)
            return try EventRows.all(s)
        }
    }

    public func version(of entity: EntityId) async throws -> Int64 {
        let version = try await readers.read { c in
            let s = try c.statement("SELECT sequence FROM events WHERE entity = ?1 ORDER BY sequence DESC LIMIT 1")
            try s.bind(1, entity.rawValue)
            defer { s.reset() }
            return try s.step() ? s.int64(0) : 0
        }
        // Known from now on (never moving back: a commit may have raised it meanwhile).
        versions.raise([entity.rawValue: version])
        return version
    }

    public func knownVersion(of entity: EntityId) -> Int64? { versions[entity.rawValue] }

    public func headPosition() async throws -> Int64 {
        try await readers.read { c in try c.scalarInt("SELECT COALESCE(MAX(position), 0) FROM events") ?? 0 }
    }

    public func command(id: String) async throws -> CommandRecord? {
        try await readers.read { try CommandRows.command(id: id, $0) }
    }

    public func traceItem(id: String) async throws -> TraceItem? {
        try await readers.read { c in
            if let e = try EventRows.event(id: id, c) { return .event(e) }
            if let cmd = try CommandRows.command(id: id, c) { return .command(cmd) }
            return nil
        }
    }

    public func items(causedBy id: String, limit: Int) async throws -> [TraceItem] {
        try await readers.read { c in
            let es = try c.statement("SELECT \(EventRows.columns) FROM events WHERE causation_id = ?1 ORDER BY position LIMIT ?2")
            try es.bind(1, id)
            try es.bind(2, limit)
            let events = try EventRows.all(es)
            let cs = try c.statement("SELECT \(CommandRows.columns) FROM commands WHERE causation_id = ?1 ORDER BY seq LIMIT ?2")
            try cs.bind(1, id)
            try cs.bind(2, limit)
            let commands = try CommandRows.all(cs)
            return events.map(TraceItem.event) + commands.map(TraceItem.command)
        }
    }
}

/// What an append does with an event whose id is already stored.
enum ReplayPolicy {
    case answerStored
    case refuse
}

/// Reading event rows.
enum EventRows {
    static let columns =
        "position, id, entity, sequence, type, time, payload, causation_id, causation_kind, correlation_id, traceparent, schema_id"

    static func event(id: String, _ c: SQLiteConnection) throws -> EventEnvelope? {
        let s = try c.statement("SELECT \(columns) FROM events WHERE id = ?1")
        try s.bind(1, id)
        defer { s.reset() }
        return try s.step() ? row(s) : nil
    }

    static func all(_ s: SQLiteStatement) throws -> [EventEnvelope] {
        defer { s.reset() }
        var out: [EventEnvelope] = []
        while try s.step() { out.append(row(s)) }
        return out
    }

    static func row(_ s: SQLiteStatement) -> EventEnvelope {
        EventEnvelope(
            id: s.string(1), entity: EntityId(stored: s.string(2)), type: s.string(4), sequence: s.int64(3),
            position: s.int64(0), time: Timestamp(millisecondsSinceEpoch: s.int64(5)), payload: RawJSON(trusted: s.string(6)),
            causationId: s.optionalString(7), causationKind: CausationKind(rawValue: s.string(8)) ?? .external,
            correlationId: s.string(9), traceparent: s.optionalString(10), schemaId: s.optionalInt64(11).map(Int.init)
        )
    }
}

/// Reading command rows.
enum CommandRows {
    static let columns =
        "id, entity, type, payload, causation_id, causation_kind, correlation_id, traceparent, status, attempts, last_error, result_event_ids, created_at, updated_at, not_before"

    static func command(id: String, _ c: SQLiteConnection) throws -> CommandRecord? {
        let s = try c.statement("SELECT \(columns) FROM commands WHERE id = ?1")
        try s.bind(1, id)
        defer { s.reset() }
        return try s.step() ? row(s) : nil
    }

    static func all(_ s: SQLiteStatement) throws -> [CommandRecord] {
        defer { s.reset() }
        var out: [CommandRecord] = []
        while try s.step() { out.append(row(s)) }
        return out
    }

    /// A command from the row's columns, starting at column `offset`.
    static func row(_ s: SQLiteStatement, offset o: Int32 = 0) -> CommandRecord {
        let ids = (try? JSONParser.parse(s.string(o + 11)))?.arrayValue?.compactMap(\.stringValue) ?? []
        return CommandRecord(
            id: s.string(o), entity: EntityId(stored: s.string(o + 1)), type: s.string(o + 2),
            payload: RawJSON(trusted: s.string(o + 3)), causationId: s.optionalString(o + 4),
            causationKind: CausationKind(rawValue: s.string(o + 5)) ?? .external, correlationId: s.string(o + 6),
            traceparent: s.optionalString(o + 7), status: CommandStatus(rawValue: s.string(o + 8)) ?? .pending,
            attempts: Int(s.int64(o + 9)), lastError: s.optionalString(o + 10), resultEventIds: ids,
            createdAt: Timestamp(millisecondsSinceEpoch: s.int64(o + 12)),
            updatedAt: Timestamp(millisecondsSinceEpoch: s.int64(o + 13)),
            notBefore: s.optionalInt64(o + 14).map(Timestamp.init(millisecondsSinceEpoch:))
        )
    }
}

/// Entity versions this process knows without reading: raised by each commit (before its writers are
/// resumed) and by reads; never lowered. Bounded: forgotten all at once when full.
final class KnownVersions: Sendable {
    private let map = Mutex<[String: Int64]>([:])
    let limit: Int

    init(limit: Int) { self.limit = limit }

    subscript(entity: String) -> Int64? { map.withLock { $0[entity] } }

    func raise(_ versions: [String: Int64]) {
        map.withLock { m in
            if m.count + versions.count > limit { m.removeAll(keepingCapacity: true) }
            m.merge(versions) { old, new in max(old, new) }
        }
    }
}
