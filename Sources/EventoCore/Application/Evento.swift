import CoreMetrics
import Logging

/// The application: everything a client can ask of Evento, whatever the adapter (HTTP routes, the CLI,
/// tests). It owns the command lifecycle — validate, resolve the cause, log, queue, wait, answer — and
/// the event intake, so that routes only parse, call one method and encode.
///
/// `run()` runs the command processor and the dispatch relay until cancelled; `shutdown()` stops them
/// taking new work.
public final class Evento: Sendable {
    public typealias Storage = EventLog & CommandLog & SnapshotStore & CursorStore & DispatchLog & TraceIndex

    public let store: any Storage
    public let functions: any FunctionDirectory
    public let validator: any SchemaValidator
    public let aggregates: Aggregates
    public let processor: CommandProcessor
    public let relay: DispatchRelay
    /// The query side: views and the projectors that keep them (nil when the store keeps no views).
    public let views: (any ViewStore)?
    public let projectors: ProjectorRunner?
    /// Refolds an aggregate's snapshots (nil when the store cannot list entities).
    public let snapshotRebuilder: SnapshotRebuilder?
    /// This instance's part in a cluster (nil: a single instance runs everything).
    public let cluster: ClusterCoordinator?
    let logger: Logger

    /// The lease the dispatch relay runs under in a cluster.
    public static let dispatchRelayLease = "relay:dispatch"
    /// The lease the projectors run under in a cluster.
    public static let projectorsLease = "relay:projectors"

    public init(
        store: any Storage, functions: any FunctionDirectory, validator: any SchemaValidator, ids: IdDerivation,
        configuration: CommandProcessor.Configuration = .init(), cluster: ClusterCoordinator? = nil, views: (any ViewStore)? = nil,
        logger: Logger
    ) {
        self.cluster = cluster
        var configuration = configuration
        if cluster != nil { configuration.recoverAtStart = false }  // partitions are adopted as they are taken
        self.store = store
        self.functions = functions
        self.validator = validator
        self.logger = logger
        aggregates = Aggregates(store: store, functions: functions, validator: validator, logger: logger)
        processor = CommandProcessor(
            store: store, functions: functions, aggregates: aggregates, validator: validator, ids: ids, configuration: configuration,
            placement: cluster ?? LocalPlacement(), logger: logger)
        relay = DispatchRelay(store: store, functions: functions, processor: processor, validator: validator, ids: ids, logger: logger)
        self.views = views
        if let views = views as? any ProjectorRunner.Store {
            projectors = ProjectorRunner(store: views, functions: functions, validator: validator, logger: logger)
        } else {
            projectors = nil
        }
        let aggregates = self.aggregates
        snapshotRebuilder = (store as? any SnapshotRebuilder.Store).map {
            SnapshotRebuilder(store: $0, aggregates: aggregates, functions: functions, validator: validator, logger: logger)
        }
    }

    /// Runs the pipeline (pending commands first, then what arrives) until `shutdown()`, then returns once
    /// the commands in flight have finished their current attempt (or until cancelled).
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            if let cluster {
                group.addTask { await cluster.run(processor: self.processor) }
                group.addTask { await cluster.whileHolding(relay: Self.dispatchRelayLease) { try await self.relay.run() } }
                if let projectors {
                    group.addTask { await cluster.whileHolding(relay: Self.projectorsLease) { try await projectors.run() } }
                }
            } else {
                group.addTask { try await self.relay.run() }
                if let projectors { group.addTask { try await projectors.run() } }
            }
            if let snapshotRebuilder { group.addTask { await snapshotRebuilder.run() } }
            try await self.processor.run()
            // The processor has drained: the relay stops too (what it would still dispatch is in the log,
            // behind its cursor, for the next start), and a cluster instance hands its leases over.
            if let cluster { await cluster.leave() }
            group.cancelAll()
        }
    }

    /// Stops handing out work: no new lane starts, running ones stop after their current command, backoff
    /// timers end. What is left stays pending in the log for the next start (or, in a cluster, for the
    /// instances that take this one's partitions).
    public func shutdown() {
        cluster?.stopTaking()
        processor.shutdown()
    }

    // MARK: Commands

    /// What became of a submitted command, as far as the caller waited.
    public enum CommandReply: Sendable {
        /// Logged (it will run), not finished yet: its record as it stands.
        case accepted(CommandRecord)
        /// Finished (succeeded, failed or dead), with the events it produced.
        case finished(CommandRecord, events: [EventEnvelope])
    }

    /// Submits a command.
    ///
    /// - Parameter wait: how long to wait for the command to finish; nil answers once it is logged. A
    ///   command whose caller waits is logged with its result, in one write, unless the wait ends
    ///   first (then it is logged before the answer says so).
    /// - Throws: `EventoError` (validation, no handler, a bad cause), `IdempotencyConflict` (the id is
    ///   taken by another command).
    public func submit(_ draft: CommandDraft, wait: Duration?, headerTraceparent: String? = nil, serverSpan: String? = nil) async throws -> CommandReply {
        try checkLoad(scheduling: draft.notBefore.map { $0 > .now() } ?? false)
        let id = draft.id ?? Identifiers.uuidV7()
        let (payload, _) = try validator.validateCommand(aggregate: draft.entity.aggregate, type: draft.type, payload: draft.payload, field: "payload")
        if validator.isInternalCommand(aggregate: draft.entity.aggregate, type: draft.type) {
            throw EventoError(
                .forbidden,
                "command \(draft.type) of aggregate \(draft.entity.aggregate) is internal (its schema record says \"internal\": true): only dispatchers may send it",
                field: "type")
        }
        guard functions.handler(for: draft.entity.aggregate) != nil else {
            throw EventoError(
                .unknownReference, "no handler is registered for aggregate \(draft.entity.aggregate); register one with POST /functions",
                field: "entity")
        }
        let cause = try await CauseResolver(store: store).resolve(draft.cause, ownId: id, headerTraceparent: headerTraceparent, serverSpan: serverSpan)
        let command = NewCommand(
            id: id, entity: draft.entity, type: draft.type, payload: payload, causationId: cause.causationId,
            causationKind: cause.causationKind, correlationId: cause.correlationId, traceparent: cause.traceparent,
            notBefore: draft.notBefore)
        // A scheduled command is logged first (it must survive a restart while it waits), then waited for.
        if draft.notBefore != nil, let wait { return try await submitLogged(command, wait: wait) }
        guard let wait else {
            let submitted = try await store.submit([command])[0]
            if submitted.isNew {
                EventoMetrics.commandsAccepted.increment()
                // In a cluster the partition's owner queues it from the log (it is told at once), in log
                // order with the commands other instances logged for its entity.
                if cluster == nil { processor.submit([submitted.record]) }
            }
            return try await reply(submitted.record)
        }
        if let cluster {
            guard processor.placement.placement(of: draft.entity).runsHere else { return try await submitElsewhere(command, wait: wait) }
            // Run here without being logged first: only once every command logged before it (through any
            // instance) is queued, so that it cannot overtake an older one of its entity.
            await cluster.freshScan()
        }
        let record = command.record(at: .now())
        let processor = self.processor
        // Queued only once the wait is registered, so that an outcome that comes at once is not missed.
        let outcome = await processor.completions.wait(for: id, timeout: wait) {
            switch processor.enqueueUnlogged(record) {
            case .queued:
                EventoMetrics.commandsAccepted.increment()
                return nil
            case .joined:
                return nil
            case .refused(let conflict):
                return CommandOutcome(record: record, events: nil, conflict: conflict)
            }
        }
        if let outcome { return try await finished(outcome) }
        // The wait is over and the command may still be in memory only: log it before saying it is accepted.
        return try await reply(try await processor.ensureLogged(command))
    }

    /// Refuses new work while the command backlog is full: a 429 that says when to try again.
    func checkLoad(scheduling: Bool = false) throws {
        guard let why = processor.overloaded(scheduling: scheduling) else { return }
        EventoMetrics.requestsRefused.increment()
        var e = EventoError(.overloaded, "Evento is at its limit: \(why); try again in a second")
        e.retryAfterSeconds = 1
        throw e
    }

    /// A command another instance runs: logged here (its owner learns of it from the log), then waited for
    /// until the log says it finished (the owner's commit announces it).
    private func submitElsewhere(_ command: NewCommand, wait: Duration) async throws -> CommandReply {
        EventoMetrics.clusterCommandsForwarded.increment()
        return try await submitLogged(command, wait: wait)
    }

    /// Logs a command, queues it when it runs here, then waits for the log to say it finished.
    private func submitLogged(_ command: NewCommand, wait: Duration) async throws -> CommandReply {
        let submitted = try await store.submit([command])[0]
        if submitted.isNew {
            EventoMetrics.commandsAccepted.increment()
            if cluster == nil { processor.submit([submitted.record]) }
        }
        if submitted.record.status.isFinal { return try await reply(submitted.record) }
        let store = self.store
        let outcome = await processor.completions.wait(for: command.id, timeout: wait) {
            // Registered: a command that finished before is found in the log.
            guard let r = try? await store.command(id: command.id), r.status.isFinal else { return nil }
            return CommandOutcome(record: r, events: nil)
        }
        guard let outcome else { return .accepted(submitted.record) }
        return try await finished(outcome)
    }

    /// The answer to a waited-for command that ended: its record and events, or the conflict that refused
    /// it (its id taken by another command; a unique value another entity holds).
    private func finished(_ outcome: CommandOutcome) async throws -> CommandReply {
        if let conflict = outcome.conflict { throw conflict }
        if let taken = outcome.uniqueConflict {
            throw EventoError(.conflict, "command \(outcome.record.id) failed: \(taken.description)", field: taken.field)
        }
        return .finished(outcome.record, events: try await events(of: outcome))
    }

    private func reply(_ record: CommandRecord) async throws -> CommandReply {
        guard record.status.isFinal else { return .accepted(record) }
        return .finished(record, events: try await events(of: CommandOutcome(record: record, events: nil)))
    }

    /// A finished command's events: as committed when the processor knows them, else read back.
    private func events(of outcome: CommandOutcome) async throws -> [EventEnvelope] {
        if let events = outcome.events { return events }
        var events: [EventEnvelope] = []
        for id in outcome.record.resultEventIds {
            if let e = try await store.event(id: id) { events.append(e) }
        }
        return events
    }

    public func command(id: String) async throws -> CommandRecord? { try await store.command(id: id) }

    // MARK: Events

    /// Publishes events from outside (one, or an atomic batch): each payload validated (or decoded from
    /// Avro), each cause resolved (a batch may name its own earlier events), then appended at once.
    /// - Throws: `EventoError`, `VersionConflict`, `IdempotencyConflict`; nothing is written then.
    public func publish(_ drafts: [EventDraft], headerTraceparent: String? = nil, serverSpan: String? = nil) async throws -> AppendResult {
        // Events make commands (through dispatchers): they wait too while the command backlog is full.
        try checkLoad()
        let resolver = CauseResolver(store: store)
        let isBatch = drafts.count > 1 || drafts.first?.path.isEmpty == false
        var events: [NewEvent] = []
        events.reserveCapacity(drafts.count)
        var earlier: [String: (kind: ItemKind, correlationId: String, traceparent: String?)] = [:]
        for d in drafts {
            let id = d.id ?? Identifiers.uuidV7()
            let field = d.path.isEmpty ? "payload" : d.path + ".payload"
            var given = d.payload ?? .null
            if let avro = d.avro {
                do {
                    given = try validator.decodeWireFormat(avro).value
                } catch {
                    let f = d.path.isEmpty ? "payloadAvro" : d.path + ".payloadAvro"
                    throw EventoError(.validation, "\(f): cannot decode: \(error)", field: f)
                }
            }
            let (payload, schemaId) = try validator.validateEvent(aggregate: d.entity.aggregate, type: d.type, payload: given, field: field)
            let cause = try await resolver.resolve(d.cause, ownId: id, headerTraceparent: headerTraceparent, serverSpan: serverSpan, earlier: earlier)
            if isBatch { earlier[id] = (.event, cause.correlationId, cause.traceparent) }
            events.append(
                NewEvent(
                    id: id, entity: d.entity, type: d.type, payload: payload, causationId: cause.causationId,
                    causationKind: cause.causationKind, correlationId: cause.correlationId, traceparent: cause.traceparent,
                    expectedVersion: d.expectedVersion, schemaId: schemaId))
        }
        return try await store.append(events)
    }

    // MARK: Traces

    /// The chain from an item back to its root and the tree of everything it caused, within `maxBytes`.
    public func trace(id: String, maxBytes: Int) async throws -> Trace {
        try await TraceWalker(store: store, maxBytes: maxBytes).walk(id)
    }

    // MARK: Aggregates

    /// An aggregate's state as a reader sees it.
    public struct AggregateView: Sendable {
        public var entity: EntityId
        /// The version the state is at.
        public var version: Int64
        public var state: RawJSON?
        /// Set when the aggregator cannot catch the snapshot up: the stream's version and why.
        public var lag: (streamVersion: Int64, error: String)?
    }

    /// The aggregate's current state (its snapshot, caught up); when the aggregator fails, the stored
    /// snapshot and how far it lags.
    public func aggregate(_ entity: EntityId) async throws -> AggregateView {
        do {
            // In a cluster, another instance may run (or have run, while it held the partition) this entity's
            // commands: what this one knows of its version (raised by its own commits and reads) can be behind,
            // so the version is read from the store. (Commands need not: a stale version ends in a conflict
            // and a fresh retry.)
            let fresh = cluster != nil
            let a = try await aggregates.current(entity, fresh: fresh)
            return AggregateView(entity: entity, version: a.version, state: a.state, lag: nil)
        } catch let e as FunctionCallError {
            let snapshot = try await store.snapshot(of: entity)
            let version = try await store.version(of: entity)
            return AggregateView(
                entity: entity, version: snapshot?.version ?? 0, state: snapshot?.state, lag: (version, e.description))
        }
    }

    // MARK: Dead letters

    /// A dead letter: a command or a dispatch that failed for good.
    public enum DeadLetter: Sendable {
        case command(CommandRecord, function: String?)
        case dispatch(DeadDispatch)
    }

    public func deadLetters(limit: Int) async throws -> [DeadLetter] {
        let commands = try await store.deadCommands(limit: limit)
        let dispatches = try await store.deadDispatches(limit: limit)
        return commands.map { .command($0, function: functions.handler(for: $0.entity.aggregate)?.name) } + dispatches.map { .dispatch($0) }
    }

    /// What retrying a dead letter did.
    public enum RetryResult: Sendable {
        /// The command is pending again.
        case command(CommandRecord)
        /// The dispatch ran again; these are the commands it produced.
        case dispatch([CommandRecord])
    }

    /// Retries a dead command (back to pending) or a dead dispatch (called again now).
    /// - Throws: not found, or a conflict when the command is not dead or failed.
    public func retryDeadLetter(id: String) async throws -> RetryResult {
        if let command = try await store.command(id: id) {
            guard command.status == .dead || command.status == .failed else {
                throw EventoError(.conflict, "command \(id) is \(command.status.rawValue); only dead or failed commands can be retried")
            }
            guard let revived = try await store.revive(commandId: id) else { throw EventoError.notFound("no command with id \"\(id)\"") }
            processor.submit([revived])
            return .command(revived)
        }
        guard let dead = try await store.deadDispatch(id: id) else { throw EventoError.notFound("no dead letter with id \"\(id)\"") }
        return .dispatch(try await relay.retry(dead))
    }
}
