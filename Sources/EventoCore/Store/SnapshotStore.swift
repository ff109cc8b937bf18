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

/// Aggregate snapshots: the state each aggregator last folded, by entity.
public protocol SnapshotStore: Sendable {
    func snapshot(of entity: EntityId) async throws -> Snapshot?
    /// Saves a snapshot unless a newer one is stored.
    func save(_ snapshot: Snapshot) async throws
}
