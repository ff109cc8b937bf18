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
        /// Lanes (entities) processed at once.
        public var maxActiveLanes = 256
        /// Handler re-runs after version conflicts before the command fails.
        public var maxConflictRetries = 8
        /// First retry delay; doubles per attempt up to `maxBackoff`.
        public var baseBackoff: Duration = .milliseconds(100)
        public var maxBackoff: Duration = .seconds(10)
        public init() {}
    }

    let store: any PipelineStore
    let functions: any FunctionDirectory
    let aggregates: Aggregates
    let validator: any SchemaValidator
    let configuration: Configuration
    let logger: Logger
    /// Resolved when a command reaches a final status.
    public let completions = Waiters<CommandRecord>()

    private struct Lane {
        var queue: Deque<CommandRecord> = []
        var active = false
    }

    private struct State {
        var lanes: [String: Lane] = [:]
        /// Command ids queued or running (a command is never in two lanes or twice in one).
        var queued: Set<String> = []
        var activeLanes = 0
        /// Entities with work, waiting for a free lane slot.
        var waiting: Deque<String> = []
        var activate: AsyncStream<String>.Continuation?
    }

    private let state = Mutex(State())

    public init(
        store: any PipelineStore, functions: any FunctionDirectory, aggregates: Aggregates, validator: any SchemaValidator,
        configuration: Configuration = Configuration(), logger: Logger
    ) {
        self.store = store
        self.functions = functions
        self.aggregates = aggregates
        self.validator = validator
        self.configuration = configuration
        self.logger = logger
    }

    /// Processes commands until cancelled: first the pending ones the log holds (a restart finishes what
    /// was accepted before), then whatever `submit` hands over.
    public func run() async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        // Lanes that got work before the stream existed start first.
        let started = state.withLock { s -> [String] in
            s.activate = continuation
            var started: [String] = []
            while s.activeLanes < configuration.maxActiveLanes, let e = s.waiting.popFirst() {
                s.activeLanes += 1
                started.append(e)
            }
            return started
        }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.recover() }
            for entity in started { group.addTask { await self.runLane(entity) } }
            for await entity in stream { group.addTask { await self.runLane(entity) } }
            // Shut down: interrupt backoff sleeps; calls in flight finish (their commands stay pending otherwise).
            group.cancelAll()
        }
    }

    /// Stops handing out lanes; `run()` returns once the running ones finish their current command.
    public func shutdown() {
        state.withLock { s in
            s.activate?.finish()
            s.activate = nil
        }
    }

    /// Re-submits every pending command in acceptance order.
    func recover() async throws {
        var after: Int64 = 0
        var count = 0
        while true {
            let page = try await store.pendingCommands(afterSeq: after, limit: 1000)
            guard let last = page.last else { break }
            submit(page.map(\.record))
            count += page.count
            after = last.seq
        }
        if count > 0 { logger.info("recovered pending commands", metadata: ["count": "\(count)"]) }
    }

    /// Queues commands on their entities' lanes (in the given order).
    public func submit(_ records: [CommandRecord]) {
        var toStart: [String] = []
        let activate = state.withLock { s -> AsyncStream<String>.Continuation? in
            for r in records where !r.status.isFinal && !s.queued.contains(r.id) {
                s.queued.insert(r.id)
                let key = r.entity.rawValue
                var lane = s.lanes[key] ?? Lane()
                lane.queue.append(r)
                if !lane.active {
                    lane.active = true
                    if s.activeLanes < configuration.maxActiveLanes && s.activate != nil {
                        s.activeLanes += 1
                        toStart.append(key)
                    } else {
                        s.waiting.append(key)
                    }
                }
                s.lanes[key] = lane
            }
            return s.activate
        }
        for key in toStart { activate?.yield(key) }
        EventoMetrics.commandBacklog.record(backlog)
    }

    /// Number of commands queued or running.
    public var backlog: Int { state.withLock { $0.queued.count } }

    private func runLane(_ entity: String) async {
        while let command = next(in: entity) {
            await process(command)
            let left = state.withLock { s in
                s.queued.remove(command.id)
                return s.queued.count
            }
            EventoMetrics.commandBacklog.record(left)
        }
    }

    /// The lane's next command; nil (and the lane retired, its slot handed on) when it has none.
    private func next(in entity: String) -> CommandRecord? {
        let (command, handOn, activate) = state.withLock { s -> (CommandRecord?, String?, AsyncStream<String>.Continuation?) in
            if let c = s.lanes[entity]?.queue.popFirst() { return (c, nil, nil) }
            s.lanes[entity] = nil
            if let w = s.waiting.popFirst() { return (nil, w, s.activate) }
            s.activeLanes -= 1
            return (nil, nil, nil)
        }
        if let handOn {
            if let activate { activate.yield(handOn) } else { state.withLock { $0.activeLanes -= 1 } }
        }
        return command
    }

    // MARK: One command

    enum Outcome {
        case succeeded
        case failed(String, retryable: Bool)
        case conflicted(String)
    }

    func process(_ command: CommandRecord) async {
        var attempts = command.attempts
        while !Task.isCancelled {
            attempts += 1
            let outcome: Outcome
            do {
                outcome = try await attempt(command, attempt: attempts)
            } catch let e as FunctionCallError {
                outcome = .failed(e.description, retryable: e.retryable)
            } catch let e as EventoError where e.code == .validation {
                outcome = .failed(e.message, retryable: true)
            } catch {
                outcome = .failed("\(error)", retryable: true)
            }
            let maxAttempts = functions.handler(for: command.entity.aggregate)?.maxAttempts ?? FunctionDefinition.defaultMaxAttempts
            let status: CommandStatus
            let message: String
            switch outcome {
            case .succeeded:
                EventoMetrics.commandsFinished(.succeeded).increment()
                if let done = try? await store.command(id: command.id) { completions.resolve(command.id, with: done) }
                return
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
                return
            }
            do { try await Task.sleep(for: backoff(attempts)) } catch { return }
        }
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
                    id: Identifiers.derived(command.id, "event", String(i)), entity: command.entity, type: e.type, payload: payload,
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
            }
        }
        return .conflicted("version conflict after \(configuration.maxConflictRetries + 1) tries: \(lastConflict)")
    }
}
