import CoreMetrics
import DequeModule
import Logging
import Synchronization

/// Runs commands through their handlers: one lane per entity (commands to one entity run in order, one at a
/// time), many lanes at once (commands to different entities run in parallel).
///
/// For one command: load the aggregate (snapshot caught up), call the handler, validate its events, fold
/// them with the aggregator, then commit events + command result + snapshot in one transaction at the
/// version the handler saw. A conflict re-runs the handler on the fresh state (bounded); a failure is
/// retried with exponential backoff up to the handler's `maxAttempts`, then the command is dead.
public final class CommandProcessor: Sendable {
    public struct Configuration: Sendable {
        /// Lanes (entities) running a command at once, over all aggregates. Each aggregate is also limited
        /// by its handler's `maxConcurrency`.
        public var maxActiveLanes = 1024
        /// Handler re-runs after version conflicts before the command fails.
        public var maxConflictRetries = 8
        /// First retry delay; doubles per attempt up to `maxBackoff`.
        public var baseBackoff: Duration = .milliseconds(100)
        public var maxBackoff: Duration = .seconds(10)
        /// Most events one command may produce; a handler returning more fails the command (not retried).
        public var maxEventsPerCommand = 1_000
        /// Largest event payload (JSON bytes) a handler may return; a larger one fails the command (not retried).
        public var maxEventBytes = 4 * 1024 * 1024
        public init() {}
    }

    let store: any PipelineStore
    let functions: any FunctionDirectory
    let aggregates: Aggregates
    let validator: any SchemaValidator
    let configuration: Configuration
    let ids: IdDerivation
    let logger: Logger
    /// Resolved when a command reaches a final status.
    public let completions = Waiters<CommandRecord>()

    /// What `run()` must start: a lane's task, or a timer that ends a lane's backoff.
    private enum Work {
        case lane(String)
        case wake(String, after: Duration)
    }

    private struct State {
        var scheduler: LaneScheduler
        var work: AsyncStream<Work>.Continuation?
        /// Set until the pending commands of the log are all queued: commands submitted meanwhile wait
        /// in `held`, so that none overtakes an older pending command of its entity.
        var recovering = true
        var held: [CommandRecord] = []
        var heldIds: Set<String> = []
    }

    private let state: Mutex<State>

    public init(
        store: any PipelineStore, functions: any FunctionDirectory, aggregates: Aggregates, validator: any SchemaValidator,
        configuration: Configuration = Configuration(), logger: Logger
    ) {
        self.store = store
        self.functions = functions
        self.aggregates = aggregates
        self.validator = validator
        self.configuration = configuration
        self.ids = store.idDerivation
        self.logger = logger
        state = Mutex(State(scheduler: LaneScheduler(maxRunning: configuration.maxActiveLanes)))
    }

    /// Processes commands until cancelled: first the pending ones the log holds (a restart finishes what
    /// was accepted before), then whatever `submit` hands over.
    public func run() async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: Work.self)
        state.withLock { $0.work = continuation }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.recover() }
            for await work in stream {
                switch work {
                case .lane(let entity):
                    group.addTask { await self.runLane(entity) }
                case .wake(let entity, let delay):
                    group.addTask {
                        do { try await Task.sleep(for: delay) } catch { return }
                        self.due(entity)
                    }
                }
            }
            // Shut down: interrupt backoff timers; calls in flight finish (their commands stay pending otherwise).
            group.cancelAll()
        }
    }

    /// Stops handing out lanes; `run()` returns once the running ones finish their current command.
    public func shutdown() {
        state.withLock { s in
            s.work?.finish()
            s.work = nil
        }
    }

    /// Queues every pending command of the log, in acceptance order, then the commands submitted meanwhile.
    func recover() async throws {
        var after: Int64 = 0
        var count = 0
        while true {
            let page = try await store.pendingCommands(afterSeq: after, limit: 1000)
            guard let last = page.last else { break }
            let records = page.map(\.record)
            state.withLock { s in
                for r in records where s.heldIds.remove(r.id) != nil {}
            }
            enqueue(records)
            count += page.count
            after = last.seq
        }
        let held = state.withLock { s -> [CommandRecord] in
            s.recovering = false
            let held = s.held.filter { s.heldIds.contains($0.id) }
            s.held = []
            s.heldIds = []
            return held
        }
        enqueue(held)
        if count > 0 { logger.info("recovered pending commands", metadata: ["count": "\(count)"]) }
    }

    /// Queues commands on their entities' lanes (in the given order). Commands already queued, and
    /// commands in a final status, are ignored.
    public func submit(_ records: [CommandRecord]) {
        let held = state.withLock { s -> Bool in
            guard s.recovering else { return false }
            for r in records where !r.status.isFinal && s.heldIds.insert(r.id).inserted { s.held.append(r) }
            return true
        }
        if !held { enqueue(records) }
    }

    private func enqueue(_ records: [CommandRecord]) {
        let (backlog, work) = state.withLock { s -> (Int, AsyncStream<Work>.Continuation?) in
            for r in records where !r.status.isFinal { _ = s.scheduler.enqueue(r) }
            return (s.scheduler.backlog, s.work)
        }
        start(work)
        EventoMetrics.commandBacklog.record(backlog)
    }

    /// Starts the lanes that may run now.
    private func start(_ work: AsyncStream<Work>.Continuation?) {
        guard let work else { return }
        let lanes = state.withLock { s in s.scheduler.startable(limit: concurrency) }
        for entity in lanes { work.yield(.lane(entity)) }
    }

    /// An aggregate's concurrency: its handler's `maxConcurrency`.
    private func concurrency(_ aggregate: String) -> Int {
        functions.handler(for: aggregate)?.maxConcurrency ?? FunctionDefinition.defaultMaxConcurrency
    }

    /// Number of commands queued or running.
    public var backlog: Int { state.withLock { $0.scheduler.backlog + $0.held.count } }

    private func runLane(_ entity: String) async {
        while let command = state.withLock({ $0.scheduler.front(of: entity) }) {
            if Task.isCancelled {
                state.withLock { $0.scheduler.abandon(entity) }
                return
            }
            switch await process(command) {
            case .finished:
                let (more, backlog) = state.withLock { s in (s.scheduler.finished(entity), s.scheduler.backlog) }
                EventoMetrics.commandBacklog.record(backlog)
                if !more {
                    start(state.withLock { $0.work })
                    return
                }
            case .retry(let attempts, let delay):
                let work = state.withLock { s in
                    s.scheduler.backOff(entity, attempts: attempts)
                    return s.work
                }
                work?.yield(.wake(entity, after: delay))
                start(work)
                return
            case .interrupted:
                state.withLock { $0.scheduler.abandon(entity) }
                return
            }
        }
    }

    private func due(_ entity: String) {
        let work = state.withLock { s in
            s.scheduler.due(entity)
            return s.work
        }
        start(work)
    }

    // MARK: One command

    enum Outcome {
        case succeeded
        case failed(String, retryable: Bool)
        case conflicted(String)
    }

    /// What became of one attempt of a lane's front command.
    enum Step {
        /// It reached a final status (or is no longer this lane's business).
        case finished
        /// It failed and is tried again after `delay`.
        case retry(attempts: Int, delay: Duration)
        /// Shutdown cut it short; it stays pending in the log.
        case interrupted
    }

    func process(_ command: CommandRecord) async -> Step {
        let attempts = command.attempts + 1
        let outcome: Outcome
        do {
            outcome = try await attempt(command, attempt: attempts)
        } catch let e as FunctionCallError {
            outcome = .failed(e.description, retryable: e.retryable)
        } catch let e as EventoError where e.code == .validation {
            outcome = .failed(e.message, retryable: true)
        } catch is CancellationError {
            return .interrupted
        } catch {
            outcome = .failed("\(error)", retryable: true)
        }
        if Task.isCancelled, case .failed = outcome { return .interrupted }
        let maxAttempts = functions.handler(for: command.entity.aggregate)?.maxAttempts ?? FunctionDefinition.defaultMaxAttempts
        let status: CommandStatus
        let message: String
        switch outcome {
        case .succeeded:
            EventoMetrics.commandsFinished(.succeeded).increment()
            if let done = try? await store.command(id: command.id) { completions.resolve(command.id, with: done) }
            return .finished
        case .conflicted(let m):
            status = .failed
            message = m
        case .failed(let m, let retryable):
            status = !retryable || attempts >= maxAttempts ? .dead : .pending
            message = m
        }
        var logged = logger
        logged[metadataKey: "evento.command.id"] = "\(command.id)"
        logged[metadataKey: "evento.entity"] = "\(command.entity)"
        logged.warning("command attempt \(attempts) failed: \(message)", metadata: ["status": "\(status.rawValue)"])
        EventoMetrics.commandsFinished(status).increment()
        let record: CommandRecord?
        do {
            record = try await store.recordFailure(commandId: command.id, status: status, attempts: attempts, error: message)
        } catch {
            logged.error("cannot record the failed attempt: \(error)")
            record = nil
        }
        if status.isFinal {
            if let record { completions.resolve(command.id, with: record) }
            return .finished
        }
        return .retry(attempts: attempts, delay: backoff(attempts))
    }

    func backoff(_ attempt: Int) -> Duration {
        let exponent = min(attempt - 1, 20)
        let base = configuration.baseBackoff * (1 << exponent)
        let capped = base > configuration.maxBackoff ? configuration.maxBackoff : base
        return capped * Double.random(in: 0.8...1.2)
    }

    func attempt(_ command: CommandRecord, attempt: Int) async throws -> Outcome {
        guard let handler = functions.handler(for: command.entity.aggregate) else {
            return .failed("no handler is registered for aggregate \(command.entity.aggregate)", retryable: true)
        }
        var lastConflict = ""
        for _ in 0...configuration.maxConflictRetries {
            let aggregate = try await aggregates.current(command.entity)
            let reply = try await functions.invoke(
                handler, request: FunctionProtocol.handleRequest(command: command, attempt: attempt, aggregate: aggregate))
            let returned = try FunctionProtocol.parseEvents(reply, function: handler.name)
            guard !returned.isEmpty else {
                return .failed("\(handler.name): returned no events (a rejection is an event too)", retryable: true)
            }
            guard returned.count <= configuration.maxEventsPerCommand else {
                return .failed(
                    "\(handler.name): returned \(returned.count) events; a command may produce at most \(configuration.maxEventsPerCommand)",
                    retryable: false)
            }
            if let (i, big) = returned.enumerated().first(where: { $0.element.payload.text.utf8.count > configuration.maxEventBytes }) {
                return .failed(
                    "\(handler.name): events[\(i)] (\(big.type)) has a payload of \(big.payload.text.utf8.count) bytes; the limit is \(configuration.maxEventBytes)",
                    retryable: false)
            }
            let now = Timestamp.now()
            let traceparent = command.traceparent.flatMap(TraceParent.init)?.child().description
            var events: [NewEvent] = []
            var envelopes: [EventEnvelope] = []
            for (i, e) in returned.enumerated() {
                let (payload, schemaId): (RawJSON, Int?)
                do {
                    (payload, schemaId) = try validator.validateEvent(
                        aggregate: command.entity.aggregate, type: e.type, payload: e.payload, field: "events[\(i)].payload")
                } catch {
                    throw FunctionCallError(function: handler.name, message: "returned an invalid event: \(error.message)", retryable: true)
                }
                let event = NewEvent(
                    id: ids.eventId(command: command.id, index: i), entity: command.entity, type: e.type, payload: payload,
                    causationId: command.id, causationKind: .command, correlationId: command.correlationId,
                    traceparent: traceparent, schemaId: schemaId, time: now)
                events.append(event)
                envelopes.append(
                    EventEnvelope(
                        id: event.id, entity: event.entity, type: event.type, sequence: aggregate.version + Int64(i) + 1, position: 0,
                        time: now, payload: payload, causationId: event.causationId, causationKind: .command,
                        correlationId: event.correlationId, traceparent: traceparent, schemaId: schemaId))
            }
            // Fold before committing, so events, result and snapshot land together. An aggregator failure
            // leaves the snapshot lagging; the next command on this entity catches it up.
            var snapshot: Snapshot?
            if let aggregator = functions.aggregator(for: command.entity.aggregate) {
                do {
                    let state = try await aggregates.fold(aggregator, aggregate, envelopes)
                    snapshot = Snapshot(entity: command.entity, version: aggregate.version + Int64(events.count), state: state ?? .null)
                } catch {
                    logger.warning(
                        "aggregator failed; the snapshot lags until the next command",
                        metadata: ["evento.entity": "\(command.entity)", "error": "\(error)"])
                }
            }
            do {
                _ = try await store.commit(
                    commandId: command.id, attempts: attempt, events: events, expectedVersion: aggregate.version, snapshot: snapshot)
                if let snapshot { aggregates.remember(snapshot) }
                return .succeeded
            } catch let conflict as VersionConflict {
                EventoMetrics.commandConflicts.increment()
                lastConflict = conflict.description
                continue
            } catch let taken as IdempotencyConflict {
                // Derived ids are keyed and cannot be computed outside; a stored one means a corrupted log,
                // never this command's result.
                return .failed("the id of its event \(taken.index) is already stored: \(taken)", retryable: false)
            }
        }
        return .conflicted("version conflict after \(configuration.maxConflictRetries + 1) tries: \(lastConflict)")
    }
}
