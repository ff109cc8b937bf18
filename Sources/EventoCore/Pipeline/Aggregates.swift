import CoreMetrics
import Logging
import Synchronization

/// Loads aggregates for handlers and keeps their snapshots: the state a handler sees is never behind the
/// events, because a lagging snapshot is caught up (through the aggregator) before it is handed out.
public final class Aggregates: Sendable {
    let store: any PipelineStore
    let functions: any FunctionDirectory
    let validator: any SchemaValidator
    let logger: Logger
    /// Recent snapshots by entity; bounded, cleared when full.
    private let cache = Mutex<[String: Snapshot]>([:])
    private let cacheLimit = 50_000
    /// Events folded per aggregator call when catching up.
    let catchUpPage = 1_000

    public init(store: any PipelineStore, functions: any FunctionDirectory, validator: any SchemaValidator, logger: Logger) {
        self.store = store
        self.functions = functions
        self.validator = validator
        self.logger = logger
    }

    /// The aggregate at its stream's current version.
    /// - Throws: `FunctionCallError` when the aggregator fails while catching up.
    public func current(_ entity: EntityId) async throws -> FunctionProtocol.Aggregate {
        let version = try await store.version(of: entity)
        guard let aggregator = functions.aggregator(for: entity.aggregate) else {
            return FunctionProtocol.Aggregate(entity: entity, version: version, state: nil)
        }
        var snapshot = cached(entity)
        if snapshot == nil || snapshot!.version != version {
            snapshot = try await store.snapshot(of: entity)
        }
        var at = snapshot?.version ?? 0
        var state: RawJSON? = snapshot.flatMap { $0.state == .null ? nil : $0.state }
        if at == version { return FunctionProtocol.Aggregate(entity: entity, version: version, state: state) }
        EventoMetrics.snapshotLag.record(version - at)
        EventoMetrics.snapshotCatchUps.increment()
        logger.debug("catching up a lagging snapshot", metadata: ["evento.entity": "\(entity)", "from": "\(at)", "to": "\(version)"])
        while at < version {
            let events = try await store.events(entity: entity, fromSequence: at + 1, limit: catchUpPage)
            guard let last = events.last else { break }
            state = try await fold(aggregator, FunctionProtocol.Aggregate(entity: entity, version: at, state: state), events)
            at = last.sequence
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
        do {
            return try validator.validateState(aggregate: aggregate.entity.aggregate, state: state, field: "state").0
        } catch {
            throw FunctionCallError(function: aggregator.name, message: "returned an invalid state: \(error.message)", retryable: true)
        }
    }

    func cached(_ entity: EntityId) -> Snapshot? {
        cache.withLock { $0[entity.rawValue] }
    }

    public func remember(_ snapshot: Snapshot) {
        cache.withLock { c in
            if c.count >= cacheLimit { c.removeAll(keepingCapacity: true) }
            if let old = c[snapshot.entity.rawValue], old.version > snapshot.version { return }
            c[snapshot.entity.rawValue] = snapshot
        }
    }
}
