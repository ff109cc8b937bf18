/// A command to add to the command log.
public struct NewCommand: Sendable, Hashable {
    public var id: String
    public var entity: EntityId
    public var type: String
    public var payload: RawJSON
    public var causationId: String?
    public var causationKind: CausationKind
    public var correlationId: String
    public var traceparent: String?

    public init(
        id: String, entity: EntityId, type: String, payload: RawJSON, causationId: String?, causationKind: CausationKind,
        correlationId: String, traceparent: String?
    ) {
        self.id = id
        self.entity = entity
        self.type = type
        self.payload = payload
        self.causationId = causationId
        self.causationKind = causationKind
        self.correlationId = correlationId
        self.traceparent = traceparent
    }
}

/// What `submit` did with one command.
public struct CommandSubmission: Sendable {
    public var record: CommandRecord
    /// False when the id was already in the log (the stored record is returned, nothing written).
    public var isNew: Bool

    public init(record: CommandRecord, isNew: Bool) {
        self.record = record
        self.isNew = isNew
    }
}

/// An aggregate's state at a version.
public struct Snapshot: Sendable, Hashable {
    public var entity: EntityId
    public var version: Int64
    public var state: RawJSON
    public var schemaId: Int?

    public init(entity: EntityId, version: Int64, state: RawJSON, schemaId: Int? = nil) {
        self.entity = entity
        self.version = version
        self.state = state
        self.schemaId = schemaId
    }
}

/// A dispatcher call that failed for good, parked until someone retries it.
public struct DeadDispatch: Sendable, Hashable {
    public var id: String
    public var dispatcher: String
    public var eventId: String
    public var attempts: Int
    public var lastError: String
    public var createdAt: Timestamp

    public init(id: String, dispatcher: String, eventId: String, attempts: Int, lastError: String, createdAt: Timestamp) {
        self.id = id
        self.dispatcher = dispatcher
        self.eventId = eventId
        self.attempts = attempts
        self.lastError = lastError
        self.createdAt = createdAt
    }
}

/// What one step of a dispatcher commits at once: the commands it derived, the dispatches it gave up on,
/// and its new cursor.
public struct DispatchCommit: Sendable {
    public var cursorName: String
    public var position: Int64
    public var commands: [NewCommand]
    public var deadDispatches: [DeadDispatch]

    public init(cursorName: String, position: Int64, commands: [NewCommand], deadDispatches: [DeadDispatch]) {
        self.cursorName = cursorName
        self.position = position
        self.commands = commands
        self.deadDispatches = deadDispatches
    }
}

/// The command log, snapshots, function registrations and relay cursors: everything the pipeline keeps
/// beside the events. Every backend that implements `EventStore` implements this too.
public protocol PipelineStore: EventStore {
    /// Derives ids under this store's secret key (handler events, dispatched commands).
    var idDerivation: IdDerivation { get }
    /// Adds commands as `pending`; an id already logged returns its record and writes nothing.
    /// - Throws: `IdempotencyConflict` when an id is logged for another entity or type.
    func submit(_ commands: [NewCommand]) async throws -> [CommandSubmission]
    /// Pending commands in acceptance order (recovery after a restart).
    func pendingCommands(afterSeq: Int64, limit: Int) async throws -> [(seq: Int64, record: CommandRecord)]
    /// Records a failed attempt: the command stays `pending` (to be retried) or ends `dead` or `failed`.
    func recordFailure(commandId: String, status: CommandStatus, attempts: Int, error: String) async throws -> CommandRecord?
    /// Appends a command's events, marks it `succeeded` with their ids, and saves the snapshot when given: one
    /// transaction. The first event is expected at `expectedVersion` and the rest follow it.
    /// - Throws: `VersionConflict` (nothing written).
    func commit(
        commandId: String, attempts: Int, events: [NewEvent], expectedVersion: Int64, snapshot: Snapshot?
    ) async throws -> AppendResult
    /// Dead commands, most recent first.
    func deadCommands(limit: Int) async throws -> [CommandRecord]
    /// Puts a dead (or failed) command back to `pending` with no attempts; nil when there is no such command.
    func revive(commandId: String) async throws -> CommandRecord?

    func snapshot(of entity: EntityId) async throws -> Snapshot?
    /// Saves a snapshot unless a newer one is stored.
    func save(_ snapshot: Snapshot) async throws

    func cursor(_ name: String) async throws -> Int64?
    func setCursor(_ name: String, to position: Int64) async throws
    func removeCursor(_ name: String) async throws
    /// Commits a dispatcher step; returns the commands that were new.
    func commit(_ dispatch: DispatchCommit) async throws -> [CommandRecord]
    func deadDispatches(limit: Int) async throws -> [DeadDispatch]
    func deadDispatch(id: String) async throws -> DeadDispatch?
    func removeDeadDispatch(id: String) async throws

    /// Function registrations, as JSON definitions by name.
    func functionDefinitions() async throws -> [(name: String, definition: RawJSON)]
    func saveFunction(name: String, definition: RawJSON) async throws
    /// - Returns: false when there was no such function.
    func deleteFunction(name: String) async throws -> Bool
}
