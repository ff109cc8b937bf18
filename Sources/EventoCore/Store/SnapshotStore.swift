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

extension Snapshot {
    /// Whether the state has each top-level field equal to the value given, compared as text: strings as
    /// they are, numbers and booleans as JSON writes them (what `SnapshotListing` filters by).
    public func matches(_ filters: [(field: String, value: String)]) -> Bool {
        guard !filters.isEmpty else { return true }
        guard case .object(let o) = (try? state.value()) ?? .null else { return false }
        return filters.allSatisfy { f in
            switch o[f.field] {
            // Byte for byte, as the stores' SQL compares (Swift's == would also equate canonically
            // equivalent text).
            case .string(let v)?: v.utf8.elementsEqual(f.value.utf8)
            case let v?: v.jsonText.utf8.elementsEqual(f.value.utf8)
            case nil: false
            }
        }
    }
}

/// Listing an aggregate's entities by their snapshots (`GET /aggregates?aggregate=…`).
public protocol SnapshotListing: Sendable {
    /// Snapshots of the aggregate's entities whose ids sort after `after` (nil: from the first), in id
    /// order, whose state has each top-level field equal to the value given. Values compare as text:
    /// strings as they are, numbers and booleans as JSON writes them (`42`, `true`).
    func snapshots(aggregate: String, where filters: [(field: String, value: String)], after: String?, limit: Int) async throws -> [Snapshot]
    /// Saves a snapshot refolded from its events: replaces the stored one unless that one is newer (an equal
    /// version is replaced, unlike `save`), and in the same transaction reserves the values of the
    /// aggregate's unique fields that the refolded state holds (releasing what the entity held before), as a
    /// command's completion does. Nothing is written when the stored snapshot is newer.
    /// - Throws: `UniqueConflict` when another entity holds one of the values; nothing is written.
    func replace(_ snapshot: Snapshot, uniqueValues: [UniqueValue]) async throws
}

extension SnapshotListing {
    /// Saves a refolded snapshot of an aggregate without unique fields.
    public func replace(_ snapshot: Snapshot) async throws { try await replace(snapshot, uniqueValues: []) }
}
