/// Where a command is in its processing.
public enum CommandStatus: String, Sendable, Hashable, CaseIterable {
    /// Accepted and waiting for (or between) attempts.
    case pending
    /// Its handler's events are committed.
    case succeeded
    /// Ended without events for a reason retrying cannot fix (a rejected payload, a conflict past the bound).
    case failed
    /// Retries exhausted: parked as a dead letter until someone retries it.
    case dead

    public var isFinal: Bool { self != .pending }
}

/// A command and its processing record, as the command log holds it.
public struct CommandRecord: Sendable, Hashable {
    public var id: String
    public var entity: EntityId
    public var type: String
    public var payload: RawJSON
    public var causationId: String?
    public var causationKind: CausationKind
    public var correlationId: String
    public var traceparent: String?
    public var status: CommandStatus
    public var attempts: Int
    public var lastError: String?
    public var resultEventIds: [String]
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    /// A durable timer: the command does not run before this instant (it is `scheduled` until then).
    public var notBefore: Timestamp?

    public init(
        id: String, entity: EntityId, type: String, payload: RawJSON, causationId: String?,
        causationKind: CausationKind, correlationId: String, traceparent: String?, status: CommandStatus = .pending,
        attempts: Int = 0, lastError: String? = nil, resultEventIds: [String] = [], createdAt: Timestamp,
        updatedAt: Timestamp, notBefore: Timestamp? = nil
    ) {
        self.id = id
        self.entity = entity
        self.type = type
        self.payload = payload
        self.causationId = causationId
        self.causationKind = causationKind
        self.correlationId = correlationId
        self.traceparent = traceparent
        self.status = status
        self.attempts = attempts
        self.lastError = lastError
        self.resultEventIds = resultEventIds
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.notBefore = notBefore
    }

    /// Pending and not due yet (at `now`).
    public func isScheduled(at now: Timestamp = .now()) -> Bool {
        status == .pending && notBefore.map { $0 > now } == true
    }

    /// The status clients see: `scheduled` for a pending command that is not due yet.
    public var shownStatus: String { isScheduled() ? "scheduled" : status.rawValue }

    public func writeMembers(to o: inout ObjectWriter) {
        o.field("id", id)
        o.field("entity", entity.rawValue)
        o.field("type", type)
        o.field("payload", json: payload)
        o.field("causationId", causationId)
        o.field("causationKind", causationKind.rawValue)
        o.field("correlationId", correlationId)
        o.field("traceparent", traceparent)
        o.field("status", shownStatus)
        o.field("attempts", attempts)
        o.field("lastError", lastError)
        o.array("resultEventIds", resultEventIds) { $0.string($1) }
        o.field("createdAt", createdAt.description)
        o.field("updatedAt", updatedAt.description)
        if let notBefore { o.field("notBefore", notBefore.description) }
    }
}

/// One node of a trace: an event or a command.
public enum TraceItem: Sendable, Hashable {
    case event(EventEnvelope)
    case command(CommandRecord)

    public var id: String {
        switch self {
        case .event(let e): e.id
        case .command(let c): c.id
        }
    }

    public var causationId: String? {
        switch self {
        case .event(let e): e.causationId
        case .command(let c): c.causationId
        }
    }

    public var causationKind: CausationKind {
        switch self {
        case .event(let e): e.causationKind
        case .command(let c): c.causationKind
        }
    }

    public var kind: ItemKind {
        switch self {
        case .event: .event
        case .command: .command
        }
    }

    public func writeMembers(to o: inout ObjectWriter) {
        o.field("kind", kind.rawValue)
        switch self {
        case .event(let e): e.writeMembers(to: &o)
        case .command(let c): c.writeMembers(to: &o)
        }
    }
}

extension CommandRecord {
    /// The conflict when `other` (a command under the same id) is another command: another entity or
    /// type, or the same with another payload (JSON-equal payloads, members in any order, are the same);
    /// nil when it is this command. The one rule every command log and the processor apply to a reused id.
    public func conflict(with other: CommandRecord, index: Int = 0) -> IdempotencyConflict? {
        guard other.entity == entity, other.type == type else {
            return IdempotencyConflict(kind: .command, id: id, storedEntity: other.entity, storedType: other.type, index: index)
        }
        if other.payload.text != payload.text, (try? other.payload.value()) != (try? payload.value()) {
            return IdempotencyConflict(
                kind: .command, id: id, storedEntity: other.entity, storedType: other.type, index: index, differentPayload: true)
        }
        return nil
    }
}
