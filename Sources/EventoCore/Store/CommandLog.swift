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
    /// Not to run before this instant (a durable timer).
    public var notBefore: Timestamp?

    public init(
        id: String, entity: EntityId, type: String, payload: RawJSON, causationId: String?, causationKind: CausationKind,
        correlationId: String, traceparent: String?, notBefore: Timestamp? = nil
    ) {
        self.id = id
        self.entity = entity
        self.type = type
        self.payload = payload
        self.causationId = causationId
        self.causationKind = causationKind
        self.correlationId = correlationId
        self.traceparent = traceparent
        self.notBefore = notBefore
    }
}

extension NewCommand {
    /// The command a record logs.
    public init(_ r: CommandRecord) {
        self.init(
            id: r.id, entity: r.entity, type: r.type, payload: r.payload, causationId: r.causationId, causationKind: r.causationKind,
            correlationId: r.correlationId, traceparent: r.traceparent, notBefore: r.notBefore)
    }

    /// The command as the log holds it once accepted.
    public func record(at time: Timestamp) -> CommandRecord {
        CommandRecord(
            id: id, entity: entity, type: type, payload: payload, causationId: causationId, causationKind: causationKind,
            correlationId: correlationId, traceparent: traceparent, createdAt: time, updatedAt: time, notBefore: notBefore)
    }
}

/// What `submit` did with one command.
public struct CommandSubmission: Sendable {
    public var record: CommandRecord
    /// False when the id was already in the log (the stored record is returned, nothing written).
    public var isNew: Bool
    /// The command's place in the log's acceptance order.
    public var seq: Int64

    public init(record: CommandRecord, isNew: Bool, seq: Int64 = 0) {
        self.record = record
        self.isNew = isNew
        self.seq = seq
    }
}

/// A command's successful end, committed at once: its events (the first expected at `expectedVersion`,
/// the rest after it), its record as `succeeded`, and the aggregate's new snapshot.
public struct CommandCompletion: Sendable {
    /// The command. It need not be in the log yet: a command whose client waits for its outcome is
    /// logged by its completion, in the same transaction as its events (one write per command).
    public var command: CommandRecord
    /// Whether the command is in the log already (accepted with `submit`); a hint that saves a lookup.
    public var isLogged: Bool
    public var attempts: Int
    public var events: [NewEvent]
    public var expectedVersion: Int64
    public var snapshot: Snapshot?
    /// In a cluster: the lease of the entity's partition the command ran under. The completion commits only
    /// while that lease is still held with this token; else it throws `FenceLost` and writes nothing.
    public var fence: Fence?
    /// The values of the aggregate's unique fields in the new snapshot: each is reserved for this entity in
    /// the same transaction (what it held before is released), or the completion fails with `UniqueConflict`.
    public var uniqueValues: [UniqueValue]

    public init(
        command: CommandRecord, isLogged: Bool, attempts: Int, events: [NewEvent], expectedVersion: Int64, snapshot: Snapshot?,
        fence: Fence? = nil, uniqueValues: [UniqueValue] = []
    ) {
        self.uniqueValues = uniqueValues
        self.command = command
        self.isLogged = isLogged
        self.attempts = attempts
        self.events = events
        self.expectedVersion = expectedVersion
        self.snapshot = snapshot
        self.fence = fence
    }
}

extension Snapshot {
    /// The values of `fields` this snapshot's state holds, to reserve for its entity (a command's completion
    /// and a snapshot rebuild alike); a state that cannot be read holds none.
    public func uniqueValues(_ fields: [UniqueField]) -> [UniqueValue] {
        guard !fields.isEmpty else { return [] }
        let value = (try? state.value()) ?? .null
        return fields.map { UniqueValue(aggregate: entity.aggregate, field: $0.name, value: $0.key(in: value), entity: entity) }
    }
}

/// A unique field's value as an entity's new state holds it (nil: none, so it holds nothing).
public struct UniqueValue: Sendable, Hashable {
    public var aggregate: String
    public var field: String
    /// The reservation key (case-folded for a `casefold` field); nil releases what the entity held.
    public var value: String?
    public var entity: EntityId

    public init(aggregate: String, field: String, value: String?, entity: EntityId) {
        self.aggregate = aggregate
        self.field = field
        self.value = value
        self.entity = entity
    }
}

/// A command's new state would hold a unique value another entity of its aggregate holds: nothing written.
public struct UniqueConflict: Error, Sendable, Hashable, CustomStringConvertible {
    public var aggregate: String
    public var field: String
    public var value: String
    /// The entity that holds the value.
    public var holder: String

    public init(aggregate: String, field: String, value: String, holder: String) {
        self.aggregate = aggregate
        self.field = field
        self.value = value
        self.holder = holder
    }

    public var description: String {
        "\(field) \(value.debugDescription) is already taken by \(holder) (\(field) is unique across the \(aggregate) aggregate)"
    }
}

/// Finding entities by the values of their aggregate's unique fields.
public protocol UniqueIndex: Sendable {
    /// The entity holding `value` (its reservation key) of a unique field, if any.
    func entity(aggregate: String, field: String, value: String) async throws -> EntityId?
}

/// What a completion wrote.
public enum CompletionResult: Sendable {
    /// The command's final record and its stored events.
    case committed(CommandRecord, [EventEnvelope])
    /// The log already held this command in a final status (another instance of it finished first):
    /// nothing was written; the stored record is the answer.
    case alreadyFinal(CommandRecord)
}

/// The command log: every accepted command and its processing record.
public protocol CommandLog: Sendable {
    /// Adds commands as `pending`; an id already logged returns its record and writes nothing.
    /// - Throws: `IdempotencyConflict` when an id is logged for another entity, type or payload.
    func submit(_ commands: [NewCommand]) async throws -> [CommandSubmission]
    func command(id: String) async throws -> CommandRecord?
    /// Pending commands in acceptance order (recovery after a restart).
    func pendingCommands(afterSeq: Int64, limit: Int) async throws -> [(seq: Int64, record: CommandRecord)]
    /// Records a failed attempt: the command stays `pending` (to be retried) or ends `dead` or `failed`.
    /// Logs the command first when it is not in the log yet.
    /// - Parameter fence: in a cluster, the lease the attempt ran under: nothing is written (`FenceLost`)
    ///   unless it is still held with that token.
    func recordFailure(_ command: CommandRecord, status: CommandStatus, attempts: Int, error: String, fence: Fence?) async throws -> CommandRecord
    /// Commits a command's events, its `succeeded` record and its snapshot in one transaction.
    /// - Throws: `VersionConflict` (nothing written), `IdempotencyConflict` (an event id is taken, or the
    ///   log holds another command under this id), `FenceLost` (its fence's lease changed hands).
    func complete(_ completion: CommandCompletion) async throws -> CompletionResult
    /// Dead commands, most recent first.
    func deadCommands(limit: Int) async throws -> [CommandRecord]
    /// Puts a dead (or failed) command back to `pending` with no attempts; nil when there is no such command.
    func revive(commandId: String) async throws -> CommandRecord?
}


extension CommandLog {
    /// Records a failed attempt outside any cluster lease.
    public func recordFailure(_ command: CommandRecord, status: CommandStatus, attempts: Int, error: String) async throws -> CommandRecord {
        try await recordFailure(command, status: status, attempts: attempts, error: error, fence: nil)
    }
}
