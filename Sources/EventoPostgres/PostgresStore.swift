import CoreMetrics
import EventoCore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The PostgreSQL store: every store protocol, for one instance or a cluster of instances on one database.
///
/// Writes go through one group-commit writer per instance (`PostgresWriter`); reads through a pool of
/// connections. Events are positioned in commit order (see `PostgresSchema`), so the global feed is exact
/// with any number of writers. Other instances' commits reach this one's `commits` signal through
/// `LISTEN/NOTIFY` (`ClusterStore.notifications`).
public final class PostgresStore: EventoStorage, ClusterStore, @unchecked Sendable {
    // @unchecked: the mutable state is in Mutexes, the writer and the client (both Sendable).

    public struct Configuration: Sendable {
        public var url: String
        /// Connections of the pool (reads, leases; the writer and the notification listener take one each).
        public var poolSize: Int = 10
        /// Most jobs folded into one transaction.
        public var maxGroupCommit: Int = 256
        /// Partitions of a new database (an existing one keeps its own).
        public var partitions: Int = 64
        /// A schema of the database to keep Evento's tables in (created if missing); nil: the default
        /// (`public`). Several Evento clusters can share a database this way.
        public var schema: String?

        public init(url: String) { self.url = url }
    }

    public let configuration: Configuration
    public let commits: CommitSignal
    public let idDerivation: IdDerivation
    public let partitionCount: Int
    let client: PostgresClient
    let writer: PostgresWriter
    let logger: Logger
    private let tasks = Mutex<[Task<Void, Never>]>([])
    /// Versions this instance wrote or read (never ahead of the store; behind it when another instance
    /// appended since, which optimistic concurrency catches). Bounded.
    let versions = KnownVersions()
    /// The notification channels of this store's schema (notifications are database-wide).
    let channels: Channels
    let notificationStreams = Mutex<[UUID: AsyncStream<ClusterNotification>.Continuation]>([:])

    /// Connects, applies the migrations and reads the store's settings.
    public static func open(configuration: Configuration, logger: Logger = Logger(label: "evento.store")) async throws -> PostgresStore {
        var configuration = configuration
        // `?schema=NAME` in the URL: the same as `Configuration.schema`.
        if configuration.schema == nil, let s = URLComponents(string: configuration.url)?.queryItems?.first(where: { $0.name == "schema" })?.value {
            configuration.schema = s
        }
        var clientConfig = try clientConfiguration(url: configuration.url)
        clientConfig.options.maximumConnections = max(2, configuration.poolSize + 2)
        clientConfig.options.minimumConnections = 0
        clientConfig.options.connectTimeout = .seconds(10)
        // A transaction left open by an instance that froze or lost its network (holding the feed row) is
        // ended by the server, so that the others' writes and lease changes go on.
        clientConfig.options.additionalStartupParameters = [("idle_in_transaction_session_timeout", "5000")]
        if let schema = configuration.schema {
            guard !schema.isEmpty, schema.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw EventoError(.invalidRequest, "a schema name has letters, digits, _ and - only", field: "schema")
            }
            clientConfig.options.additionalStartupParameters.append(("search_path", "\"\(schema)\""))
        }
        let client = PostgresClient(configuration: clientConfig, backgroundLogger: logger)
        let runner = Task { await client.run() }
        // Let the client start running before the first lease (it warns otherwise).
        try? await Task.sleep(for: .milliseconds(10))
        do {
            let (key, partitions, head) = try await migrate(
                client, schema: configuration.schema, partitions: configuration.partitions, logger: logger)
            let store = PostgresStore(
                configuration: configuration, client: client, key: key, partitions: partitions, head: head, logger: logger)
            store.tasks.withLock { $0.append(runner) }
            store.start()
            logger.info(
                "opened PostgreSQL store",
                metadata: ["database": "\(redacted(configuration.url))", "head": "\(head)", "partitions": "\(partitions)"])
            return store
        } catch {
            runner.cancel()
            throw EventoError(.unavailable, "cannot open the PostgreSQL store at \(redacted(configuration.url)): \(describe(error))")
        }
    }

    private init(configuration: Configuration, client: PostgresClient, key: [UInt8], partitions: Int, head: Int64, logger: Logger) {
        self.configuration = configuration
        self.client = client
        self.logger = logger
        idDerivation = IdDerivation(key: key)
        partitionCount = partitions
        let commits = CommitSignal(head: head)
        self.commits = commits
        let channels = Channels(schema: configuration.schema)
        self.channels = channels
        let versions = self.versions
        writer = PostgresWriter(maxBatch: configuration.maxGroupCommit, partitionCount: partitions, channels: channels, logger: logger) {
            head, written in
            versions.raise(written)
            if let head { commits.advance(to: head) }
        }
    }

    /// Notification channel names, one set per schema (NOTIFY is database-wide).
    struct Channels: Sendable {
        let events: String
        let commands: String
        let finished: String
        let catalogue: String

        init(schema: String?) {
            let suffix = schema.map { "_" + String(Partitioning.partition(of: $0, count: Int(Int32.max)), radix: 36) } ?? ""
            events = "evento_events" + suffix
            commands = "evento_commands" + suffix
            finished = "evento_finished" + suffix
            catalogue = "evento_catalogue" + suffix
        }
    }

    private func start() {
        let writer = self.writer
        let client = self.client
        let w = Task { await writer.run(client: client) }
        let l = Task { await self.listen() }
        tasks.withLock { $0.append(contentsOf: [w, l]) }
    }

    public func close() async {
        writer.close()
        let all = tasks.withLock { $0 }
        // The writer drains its queue first; then the listener and the pool stop.
        if all.count > 1 { await all[1].value }
        for t in all { t.cancel() }
        for t in all { await t.value }
        notificationStreams.withLock { s in
            for c in s.values { c.finish() }
            s.removeAll()
        }
    }

    // MARK: Connection settings

    public static func clientConfiguration(url: String) throws -> PostgresClient.Configuration {
        guard let c = URLComponents(string: url), c.scheme == "postgres" || c.scheme == "postgresql", let host = c.host, !host.isEmpty else {
            throw EventoError(.invalidRequest, "the store URL must look like postgres://USER:PASS@HOST:PORT/DB", field: "store")
        }
        let user = c.user?.removingPercentEncoding ?? "postgres"
        let password = c.password?.removingPercentEncoding
        var database = c.path
        if database.hasPrefix("/") { database.removeFirst() }
        let sslmode = c.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
        let tls: PostgresClient.Configuration.TLS
        switch sslmode {
        case "disable": tls = .disable
        case "require": tls = .require(.makeClientConfiguration())
        default: tls = .prefer(.makeClientConfiguration())
        }
        return PostgresClient.Configuration(
            host: host, port: c.port ?? 5432, username: user, password: password, database: database.isEmpty ? nil : database, tls: tls)
    }

    /// The URL without its password (for logs and errors).
    public static func redacted(_ url: String) -> String {
        guard var c = URLComponents(string: url) else { return "postgres://…" }
        if c.password != nil { c.password = "***" }
        return c.string ?? "postgres://…"
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let message = e.serverInfo?[.message] { return message }
            return "\(e.code)" + (e.underlying.map { ": \($0)" } ?? "")
        }
        return "\(error)"
    }

    // MARK: Migrations

    static func migrate(_ client: PostgresClient, schema: String?, partitions: Int, logger: Logger) async throws -> (
        key: [UInt8], partitions: Int, head: Int64
    ) {
        try await client.withConnection { c in
            if let schema { try await c.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \"\(schema)\""), logger: logger) }
            try await c.query("BEGIN", logger: logger)
            do {
                try await c.query("SELECT pg_advisory_xact_lock(8245001)", logger: logger)
                let exists = try await c.query(
                    "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'evento_meta')", logger: logger
                ).collect()[0].decode(Bool.self)
                var version = 0
                if exists {
                    let rows = try await c.query("SELECT value FROM evento_meta WHERE key = 'schema_version'", logger: logger).collect()
                    version = Int(try rows.first?.decode(String.self) ?? "0") ?? 0
                }
                for (i, statements) in PostgresSchema.migrations.enumerated() where i >= version {
                    for sql in statements { try await c.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
                }
                let total = String(PostgresSchema.migrations.count)
                try await c.query(
                    "INSERT INTO evento_meta(key, value) VALUES ('schema_version', \(total)) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    logger: logger)
                let newKey = Identifiers.hex(IdDerivation.newKey())
                try await c.query("INSERT INTO evento_meta(key, value) VALUES ('id_key', \(newKey)) ON CONFLICT (key) DO NOTHING", logger: logger)
                try await c.query(
                    "INSERT INTO evento_meta(key, value) VALUES ('partitions', \(String(partitions))) ON CONFLICT (key) DO NOTHING", logger: logger)
                let keyText = try await c.query("SELECT value FROM evento_meta WHERE key = 'id_key'", logger: logger).collect()[0].decode(String.self)
                let parts = Int(try await c.query("SELECT value FROM evento_meta WHERE key = 'partitions'", logger: logger).collect()[0].decode(String.self)) ?? partitions
                try await c.query(
                    """
                    INSERT INTO evento_leases(name) SELECT 'partition:' || g FROM generate_series(0, \(parts - 1)) AS g
                    ON CONFLICT (name) DO NOTHING
                    """, logger: logger)
                let head = try await c.query("SELECT head FROM evento_feed WHERE id = 1", logger: logger).collect()[0].decode(Int64.self)
                try await c.query("COMMIT", logger: logger)
                guard let key = Identifiers.bytes(hex: keyText), key.count >= 16 else { throw EventoError(.internal, "the stored id key is malformed") }
                return (key, parts, head)
            } catch {
                _ = try? await c.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    // MARK: Reads

    @discardableResult
    func read(_ q: PostgresQuery) async throws -> [PostgresRow] {
        do {
            return try await client.query(q, logger: logger).collect()
        } catch let e as PSQLError {
            throw EventoError(.unavailable, "PostgreSQL read failed: \(Self.describe(e))")
        }
    }

    public func event(id: String) async throws -> EventEnvelope? {
        let sql = "SELECT \(PostgresRows.eventColumns) FROM events WHERE id = $1"
        var b = PostgresBindings()
        b.append(id)
        return try await read(PostgresQuery(unsafeSQL: sql, binds: b)).first.map { try PostgresRows.event($0) }
    }

    public func events(entity: EntityId, fromSequence: Int64, limit: Int) async throws -> [EventEnvelope] {
        var b = PostgresBindings()
        b.append(entity.rawValue)
        b.append(fromSequence)
        b.append(limit)
        let sql = "SELECT \(PostgresRows.eventColumns) FROM events WHERE entity = $1 AND sequence >= $2 ORDER BY sequence LIMIT $3"
        return try await read(PostgresQuery(unsafeSQL: sql, binds: b)).map { try PostgresRows.event($0) }
    }

    public func events(afterPosition: Int64, limit: Int) async throws -> [EventEnvelope] {
        var b = PostgresBindings()
        b.append(afterPosition)
        b.append(limit)
        let sql = "SELECT \(PostgresRows.eventColumns) FROM events WHERE position > $1 ORDER BY position LIMIT $2"
        return try await read(PostgresQuery(unsafeSQL: sql, binds: b)).map { try PostgresRows.event($0) }
    }

    public func version(of entity: EntityId) async throws -> Int64 {
        let rows = try await read("SELECT COALESCE(max(sequence), 0) FROM events WHERE entity = \(entity.rawValue)")
        let version = try rows[0].decode(Int64.self)
        versions.raise([entity.rawValue: version])
        return version
    }

    public func knownVersion(of entity: EntityId) -> Int64? { versions[entity.rawValue] }

    public func headPosition() async throws -> Int64 {
        try await read("SELECT head FROM evento_feed WHERE id = 1")[0].decode(Int64.self)
    }

    public func command(id: String) async throws -> CommandRecord? {
        var b = PostgresBindings()
        b.append(id)
        return try await read(PostgresQuery(unsafeSQL: "SELECT \(PostgresRows.commandColumns) FROM commands WHERE id = $1", binds: b))
            .first.map { try PostgresRows.command($0) }
    }

    public func traceItem(id: String) async throws -> TraceItem? {
        if let e = try await event(id: id) { return .event(e) }
        if let c = try await command(id: id) { return .command(c) }
        return nil
    }

    public func items(causedBy id: String, limit: Int) async throws -> [TraceItem] {
        var b = PostgresBindings()
        b.append(id)
        b.append(limit)
        let events = try await read(
            PostgresQuery(unsafeSQL: "SELECT \(PostgresRows.eventColumns) FROM events WHERE causation_id = $1 ORDER BY position LIMIT $2", binds: b)
        ).map { try PostgresRows.event($0) }
        let commands = try await read(
            PostgresQuery(unsafeSQL: "SELECT \(PostgresRows.commandColumns) FROM commands WHERE causation_id = $1 ORDER BY seq LIMIT $2", binds: b)
        ).map { try PostgresRows.command($0) }
        return events.map(TraceItem.event) + commands.map(TraceItem.command)
    }

    public func snapshot(of entity: EntityId) async throws -> Snapshot? {
        let rows = try await read("SELECT version, state, schema_id FROM snapshots WHERE entity = \(entity.rawValue)")
        guard let row = rows.first else { return nil }
        let (version, state, schemaId) = try row.decode((Int64, String, Int?).self)
        return Snapshot(entity: entity, version: version, state: RawJSON(trusted: state), schemaId: schemaId)
    }

    public func cursor(_ name: String) async throws -> Int64? {
        try await read("SELECT position FROM relay_cursors WHERE name = \(name)").first?.decode(Int64.self)
    }

    public func deadCommands(limit: Int) async throws -> [CommandRecord] {
        var b = PostgresBindings()
        b.append(limit)
        return try await read(
            PostgresQuery(
                unsafeSQL: "SELECT \(PostgresRows.commandColumns) FROM commands WHERE status = 'dead' ORDER BY updated_at DESC LIMIT $1", binds: b)
        ).map { try PostgresRows.command($0) }
    }

    public func pendingCommands(afterSeq: Int64, limit: Int) async throws -> [(seq: Int64, record: CommandRecord)] {
        var b = PostgresBindings()
        b.append(afterSeq)
        b.append(limit)
        return try await read(
            PostgresQuery(
                unsafeSQL: "SELECT seq, \(PostgresRows.commandColumns) FROM commands WHERE status = 'pending' AND seq > $1 ORDER BY seq LIMIT $2",
                binds: b)
        ).map { (try $0.makeRandomAccess()[0].decode(Int64.self), try PostgresRows.command($0, offset: 1)) }
    }

    public func deadDispatches(limit: Int) async throws -> [DeadDispatch] {
        try await read(
            "SELECT id, dispatcher, event_id, attempts, last_error, created_at FROM dead_dispatches ORDER BY created_at DESC LIMIT \(limit)"
        ).map(Self.deadDispatch)
    }

    public func deadDispatch(id: String) async throws -> DeadDispatch? {
        try await read("SELECT id, dispatcher, event_id, attempts, last_error, created_at FROM dead_dispatches WHERE id = \(id)")
            .first.map(Self.deadDispatch)
    }

    static func deadDispatch(_ row: PostgresRow) throws -> DeadDispatch {
        let (id, dispatcher, eventId, attempts, lastError, createdAt) = try row.decode((String, String, String, Int, String, Int64).self)
        return DeadDispatch(
            id: id, dispatcher: dispatcher, eventId: eventId, attempts: attempts, lastError: lastError,
            createdAt: Timestamp(millisecondsSinceEpoch: createdAt))
    }

    public func functionDefinitions() async throws -> [(name: String, definition: RawJSON)] {
        try await read("SELECT name, definition FROM functions ORDER BY name").map { row in
            let (name, definition) = try row.decode((String, String).self)
            return (name, RawJSON(trusted: definition))
        }
    }

    // MARK: Writes

    public func append(_ events: [NewEvent]) async throws -> AppendResult {
        guard !events.isEmpty else { return AppendResult(events: [], duplicates: 0) }
        guard case .appended(let result) = try await writer.perform(.append(events)) else { throw EventoError(.internal, "append answered otherwise") }
        return result
    }

    public func submit(_ commands: [NewCommand]) async throws -> [CommandSubmission] {
        guard !commands.isEmpty else { return [] }
        guard case .submitted(let result) = try await writer.perform(.submit(commands)) else { throw EventoError(.internal, "submit answered otherwise") }
        return result
    }

    static func insert(_ commands: [NewCommand], in tx: PostgresTransaction) async throws -> [CommandSubmission] {
        var out: [CommandSubmission] = []
        for (index, cmd) in commands.enumerated() {
            let record = cmd.record(at: tx.now)
            if let seq = try await insert(record, in: tx, ifAbsent: true) {
                out.append(CommandSubmission(record: record, isNew: true, seq: seq))
                continue
            }
            guard let stored = try await storedCommand(cmd.id, in: tx) else {
                throw EventoError(.internal, "command \(cmd.id) was neither inserted nor found")
            }
            if let conflict = record.conflict(with: stored, index: index) { throw conflict }
            out.append(CommandSubmission(record: stored, isNew: false))
        }
        return out
    }

    static func storedCommand(_ id: String, in tx: PostgresTransaction) async throws -> CommandRecord? {
        var b = PostgresBindings()
        b.append(id)
        return try await tx.query(PostgresQuery(unsafeSQL: "SELECT \(PostgresRows.commandColumns) FROM commands WHERE id = $1", binds: b))
            .first.map { try PostgresRows.command($0) }
    }

    /// Adds a command's row; returns its sequence, nil when `ifAbsent` and the id is taken.
    @discardableResult
    static func insert(_ r: CommandRecord, in tx: PostgresTransaction, ifAbsent: Bool = false) async throws -> Int64? {
        var b = PostgresBindings()
        b.append(r.id)
        b.append(r.entity.rawValue)
        b.append(tx.partition(of: r.entity))
        b.append(r.type)
        b.append(r.payload.text)
        b.append(r.causationId)
        b.append(r.causationKind.rawValue)
        b.append(r.correlationId)
        b.append(r.traceparent)
        b.append(r.status.rawValue)
        b.append(r.attempts)
        b.append(PostgresText.storable(r.lastError))
        b.append(PostgresRows.resultIds(r.resultEventIds))
        b.append(r.createdAt.millisecondsSinceEpoch)
        b.append(r.updatedAt.millisecondsSinceEpoch)
        b.append(r.notBefore?.millisecondsSinceEpoch)
        let sql = """
            INSERT INTO commands(id, entity, partition, type, payload, causation_id, causation_kind, correlation_id, traceparent,
                status, attempts, last_error, result_event_ids, created_at, updated_at, not_before)
            VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
            """ + (ifAbsent ? " ON CONFLICT (id) DO NOTHING" : "") + " RETURNING seq"
        let rows = try await tx.query(PostgresQuery(unsafeSQL: sql, binds: b))
        guard let row = rows.first else { return nil }
        if r.status == .pending { tx.commandPartitions.insert(tx.partition(of: r.entity)) } else if r.status.isFinal { tx.finished.append(r.id) }
        return try row.decode(Int64.self)
    }

    public func recordFailure(_ command: CommandRecord, status: CommandStatus, attempts: Int, error: String, fence: Fence?) async throws -> CommandRecord {
        try await writer.perform { tx in
            if let fence { try await Self.check(fence, in: tx) }
            var record = command
            record.status = status
            record.attempts = attempts
            record.lastError = PostgresText.storable(error) as String
            record.updatedAt = tx.now
            switch try await Self.writeOutcome(record, resultEventIds: nil, in: tx) {
            case .written(let createdAt):
                record.createdAt = createdAt
                return record
            case .final(let stored): return stored
            }
        }
    }

    public func complete(_ completion: CommandCompletion) async throws -> CompletionResult {
        guard case .completed(let result) = try await writer.perform(.complete(completion)) else {
            throw EventoError(.internal, "complete answered otherwise")
        }
        return result
    }

    /// Fails with `FenceLost` unless the lease is held by the fence's owner with its token. It cannot change
    /// hands before this transaction ends: lease changes wait for the feed row, which the writer holds.
    static func check(_ fence: Fence, in tx: PostgresTransaction) async throws {
        let rows = try await tx.query(
            """
            SELECT 1 FROM evento_leases WHERE name = \(fence.lease) AND owner = \(fence.owner) AND token = \(fence.token)
                AND expires_at > clock_timestamp()
            """)
        if rows.isEmpty { throw FenceLost(fence: fence) }
    }

    enum OutcomeWrite {
        case written(createdAt: Timestamp)
        case final(CommandRecord)
    }

    /// Writes a command's outcome onto its pending row (or inserts the row); a finished command keeps its end.
    static func writeOutcome(_ record: CommandRecord, resultEventIds: String?, in tx: PostgresTransaction) async throws -> OutcomeWrite {
        let rows = try await tx.query(
            """
            UPDATE commands SET status = \(record.status.rawValue), attempts = \(record.attempts), last_error = \(PostgresText.storable(record.lastError)),
                result_event_ids = COALESCE(\(resultEventIds), result_event_ids), updated_at = \(record.updatedAt.millisecondsSinceEpoch)
            WHERE id = \(record.id) AND status = 'pending' AND entity = \(record.entity.rawValue) AND type = \(record.type)
                AND payload = \(record.payload.text)
            RETURNING created_at
            """)
        if let row = rows.first {
            if record.status.isFinal { tx.finished.append(record.id) }
            return .written(createdAt: Timestamp(millisecondsSinceEpoch: try row.decode(Int64.self)))
        }
        guard let stored = try await storedCommand(record.id, in: tx) else {
            try await insert(record, in: tx)
            return .written(createdAt: record.createdAt)
        }
        if let conflict = record.conflict(with: stored, index: 0) { throw conflict }
        guard stored.status == .pending else { return .final(stored) }
        try await tx.query(
            """
            UPDATE commands SET status = \(record.status.rawValue), attempts = \(record.attempts), last_error = \(PostgresText.storable(record.lastError)),
                result_event_ids = COALESCE(\(resultEventIds), result_event_ids), updated_at = \(record.updatedAt.millisecondsSinceEpoch)
            WHERE id = \(record.id) AND status = 'pending'
            """)
        if record.status.isFinal { tx.finished.append(record.id) }
        return .written(createdAt: stored.createdAt)
    }

    public func revive(commandId: String) async throws -> CommandRecord? {
        try await writer.perform { tx in
            let rows = try await tx.query(
                """
                UPDATE commands SET status = 'pending', attempts = 0, updated_at = \(tx.now.millisecondsSinceEpoch),
                    txid = pg_current_xact_id()::text::bigint
                WHERE id = \(commandId) AND status IN ('dead', 'failed') RETURNING partition
                """)
            if let row = rows.first { tx.commandPartitions.insert(try row.decode(Int.self)) }
            return try await Self.storedCommand(commandId, in: tx)
        }
    }

    public func save(_ snapshot: Snapshot) async throws {
        try await writer.perform { tx in try await Self.save(snapshot, in: tx) }
    }

    static func save(_ snapshot: Snapshot, in tx: PostgresTransaction) async throws {
        try await tx.query(
            """
            INSERT INTO snapshots(entity, version, state, schema_id, updated_at)
            VALUES (\(snapshot.entity.rawValue), \(snapshot.version), \(snapshot.state.text), \(snapshot.schemaId), \(tx.now.millisecondsSinceEpoch))
            ON CONFLICT (entity) DO UPDATE SET version = excluded.version, state = excluded.state, schema_id = excluded.schema_id,
                updated_at = excluded.updated_at
            WHERE excluded.version > snapshots.version
            """)
    }

    public func setCursor(_ name: String, to position: Int64) async throws {
        try await writer.perform { tx in try await Self.setCursor(name, to: position, in: tx) }
    }

    static func setCursor(_ name: String, to position: Int64, in tx: PostgresTransaction) async throws {
        try await tx.query(
            """
            INSERT INTO relay_cursors(name, position, updated_at) VALUES (\(name), \(position), \(tx.now.millisecondsSinceEpoch))
            ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at
            """)
    }

    public func removeCursor(_ name: String) async throws {
        try await writer.perform { tx in try await tx.query("DELETE FROM relay_cursors WHERE name = \(name)") }
    }

    public func commit(_ dispatch: DispatchCommit) async throws -> [CommandRecord] {
        try await writer.perform { tx in
            let submitted = try await Self.insert(dispatch.commands, in: tx)
            for d in dispatch.deadDispatches {
                try await tx.query(
                    """
                    INSERT INTO dead_dispatches(id, dispatcher, event_id, attempts, last_error, created_at)
                    VALUES (\(d.id), \(d.dispatcher), \(d.eventId), \(d.attempts), \(PostgresText.storable(d.lastError)), \(d.createdAt.millisecondsSinceEpoch))
                    ON CONFLICT (id) DO UPDATE SET attempts = excluded.attempts, last_error = excluded.last_error
                    """)
            }
            if !dispatch.cursorName.isEmpty { try await Self.setCursor(dispatch.cursorName, to: dispatch.position, in: tx) }
            return submitted.filter(\.isNew).map(\.record)
        }
    }

    public func removeDeadDispatch(id: String) async throws {
        try await writer.perform { tx in try await tx.query("DELETE FROM dead_dispatches WHERE id = \(id)") }
    }

    public func saveFunction(name: String, definition: RawJSON) async throws {
        try await writer.perform { tx in
            try await tx.query(
                """
                INSERT INTO functions(name, definition, created_at) VALUES (\(name), \(definition.text), \(tx.now.millisecondsSinceEpoch))
                ON CONFLICT (name) DO UPDATE SET definition = excluded.definition
                """)
            try await tx.query("SELECT pg_notify(\(self.channels.catalogue), 'functions')")
        }
    }

    public func deleteFunction(name: String) async throws -> Bool {
        try await writer.perform { tx in
            let deleted = try await !tx.query("DELETE FROM functions WHERE name = \(name) RETURNING name").isEmpty
            if deleted { try await tx.query("SELECT pg_notify(\(self.channels.catalogue), 'functions')") }
            return deleted
        }
    }
}

/// Entity versions an instance knows without reading; raised by commits and reads, never lowered. Bounded.
final class KnownVersions: Sendable {
    private let map = Mutex<[String: Int64]>([:])

    subscript(entity: String) -> Int64? { map.withLock { $0[entity] } }

    func raise(_ versions: [String: Int64]) {
        guard !versions.isEmpty else { return }
        map.withLock { m in
            if m.count + versions.count > 200_000 { m.removeAll(keepingCapacity: true) }
            m.merge(versions) { old, new in max(old, new) }
        }
    }
}
