/// The event log: per-entity streams with gapless sequences and one global order (position).
///
/// Appends are atomic per call: every event of the call commits, or none does.
public protocol EventLog: Sendable {
    /// Advances on every commit that wrote events.
    var commits: CommitSignal { get }

    /// Appends events atomically. Each event's expected version is checked against its stream just before
    /// it is appended (so a batch may append several events to one stream). An event whose id is already
    /// stored is not written again: its stored envelope is returned instead.
    ///
    /// - Throws: `VersionConflict`, `IdempotencyConflict`.
    func append(_ events: [NewEvent]) async throws -> AppendResult

    func event(id: String) async throws -> EventEnvelope?
    /// Events of one entity with `sequence >= fromSequence`, in sequence order.
    func events(entity: EntityId, fromSequence: Int64, limit: Int) async throws -> [EventEnvelope]
    /// The global feed: events with `position > afterPosition`, in position order.
    func events(afterPosition: Int64, limit: Int) async throws -> [EventEnvelope]
    /// The entity's current version (its last sequence; 0 when it has no events).
    func version(of entity: EntityId) async throws -> Int64
    /// The entity's version when this process knows it without reading (it wrote the entity's last
    /// events, or read its version, recently); nil otherwise. Never ahead of the store; it may lag
    /// only when another process appends to the same store, which optimistic concurrency catches.
    func knownVersion(of entity: EntityId) -> Int64?
    /// The position of the last committed event (0 when empty).
    func headPosition() async throws -> Int64
}

/// What an append stored.
public struct AppendResult: Sendable {
    /// The envelopes, in request order: the newly stored ones and, for ids already stored, the stored ones.
    public var events: [EventEnvelope]
    /// How many of `events` were already stored (idempotent replays).
    public var duplicates: Int

    public init(events: [EventEnvelope], duplicates: Int) {
        self.events = events
        self.duplicates = duplicates
    }
}

/// An append's expected version did not match its stream; nothing of the append was written.
public struct VersionConflict: Error, Sendable, Hashable, CustomStringConvertible {
    public var entity: EntityId
    public var expected: ExpectedVersion
    public var actual: Int64
    /// Index of the offending event in the append.
    public var index: Int

    public init(entity: EntityId, expected: ExpectedVersion, actual: Int64, index: Int) {
        self.entity = entity
        self.expected = expected
        self.actual = actual
        self.index = index
    }

    public var description: String {
        "entity \(entity) is at version \(actual), expected \(expected)"
    }
}

/// An event or command id was reused for a different item (another entity or type); nothing was written.
public struct IdempotencyConflict: Error, Sendable, Hashable, CustomStringConvertible {
    public var kind: ItemKind
    public var id: String
    public var storedEntity: EntityId
    public var storedType: String
    public var index: Int
    /// The stored item has the same entity and type but another payload.
    public var differentPayload: Bool

    public init(kind: ItemKind = .event, id: String, storedEntity: EntityId, storedType: String, index: Int, differentPayload: Bool = false) {
        self.kind = kind
        self.id = id
        self.storedEntity = storedEntity
        self.storedType = storedType
        self.index = index
        self.differentPayload = differentPayload
    }

    public var description: String {
        if differentPayload {
            return "\(kind.rawValue) id \"\(id)\" is already used by a \(storedType) \(kind.rawValue) of \(storedEntity) with another payload"
        }
        return "\(kind.rawValue) id \"\(id)\" is already used by a \(storedType) \(kind.rawValue) of \(storedEntity)"
    }
}
