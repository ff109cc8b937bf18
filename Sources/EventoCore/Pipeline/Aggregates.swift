import CoreMetrics
import Logging
import Synchronization

/// Loads aggregates for handlers and keeps their snapshots: the state a handler sees is never behind the
/// events, because a lagging snapshot is caught up (through the aggregator) before it is handed out.
///
/// Snapshots of recently active entities stay in memory, and so does their version (the event log knows
/// the versions it wrote), so a command to a live entity costs no read at all. After a version conflict
/// the processor asks for a `fresh` aggregate, which reads the stream's version from the store.
public final class Aggregates: Sendable {
    public typealias Store = EventLog & SnapshotStore

    let store: any Store
    let functions: any FunctionDirectory
    let validator: any SchemaValidator
    let logger: Logger
    /// Recent snapshots by entity; bounded, cleared when full.
    private let cache = Mutex<[String: Snapshot]>([:])
    private let cacheLimit = 50_000
    /// Events folded per aggregator call when catching up.
    let catchUpPage = 1_000

    public init(store: any Store, functions: any FunctionDirectory, validator: any SchemaValidator, logger: Logger) {
        self.store = store
        self.functions = functions
        self.validator = validator
        self.logger = logger
    }

    /// The aggregate at its stream's current version.
    /// - Parameter fresh: read the stream's version from the store rather than trusting what is known.
    /// - Throws: `FunctionCallError` when the aggregator fails while catching up.
    public func current(_ entity: EntityId, fresh: Bool = false) async throws -> FunctionProtocol.Aggregate {
        let known = fresh ? nil : store.knownVersion(of: entity)
        let version: Int64
        if let known {
            version = known
        } else {
            version = try await store.version(of: entity)
        }
        guard let aggregator = functions.aggregator(for: entity.aggregate) else {
            return FunctionProtocol.Aggregate(entity: entity, version: version, state: nil)
        }
        var snapshot = cached(entity)
        if snapshot == nil || snapshot!.version != version {
            snapshot = try await store.snapshot(of: entity)
        }
        var at = snapshot?.version ?? 0
        var state: RawJSON? = snapshot.flatMap { $0.state == .null ? nil : $0.state }
        if at == version {
            if let snapshot { remember(snapshot) }
            return FunctionProtocol.Aggregate(entity: entity, version: version, state: state)
        }
        EventoMetrics.snapshotLag.record(version - at)
        EventoMetrics.snapshotCatchUps.increment()
        logger.debug("catching up a lagging snapshot", metadata: ["evento.entity": "\(entity)", "from": "\(at)", "to": "\(version)"])
        while true {
            let events = try await store.events(entity: entity, fromSequence: at + 1, limit: catchUpPage)
            guard let last = events.last else { break }
            state = try await fold(aggregator, FunctionProtocol.Aggregate(entity: entity, version: at, state: state), events)
            at = last.sequence
            if events.count < catchUpPage { break }
        }
        let caughtUp = Snapshot(entity: entity, version: at, state: state ?? .null)
        try await store.save(caughtUp)
        remember(caughtUp)
        return FunctionProtocol.Aggregate(entity: entity, version: at, state: state)
    }

    /// Calls the aggregator on new events and validates the state it returns.
    public func fold(_ aggregator: FunctionDefinition, _ aggregate: FunctionProtocol.Aggregate, _ events: [EventEnvelope]) async throws -> RawJSON? {
        let reply = try await functions.invoke(aggregator, request: FunctionProtocol.aggregateRequest(aggregate: aggregate, events: events))
        guard let state = try FunctionProtocol.parseState(reply, function: aggregator.name) else { return nil }
        return try validated(state, by: aggregator, for: aggregate.entity)
    }

    /// A state an aggregator returned, checked against the aggregate's schema.
    /// - Throws: `FunctionCallError` naming the aggregator and the field at fault.
    public func validated(_ state: JSONValue, by aggregator: FunctionDefinition, for entity: EntityId) throws -> RawJSON {
        if state == .null { return .null }
        do {
            return try validator.validateState(aggregate: entity.aggregate, state: state, field: "state").0
        } catch {
            throw FunctionCallError(function: aggregator.name, message: "returned an invalid state: \(error.message)", retryable: true)
        }
    }

    func cached(_ entity: EntityId) -> Snapshot? {
        cache.withLock { $0[entity.rawValue] }
    }

    public func remember(_ snapshot: Snapshot) {
        cache.withLock { c in
            if let old = c[snapshot.entity.rawValue] {
                if old.version > snapshot.version { return }
            } else if c.count >= cacheLimit {
                c.removeAll(keepingCapacity: true)
            }
            c[snapshot.entity.rawValue] = snapshot
        }
    }

    /// Drops an entity's snapshot from memory (its events moved on without one).
    public func forget(_ entity: EntityId) {
        _ = cache.withLock { $0.removeValue(forKey: entity.rawValue) }
    }
}
