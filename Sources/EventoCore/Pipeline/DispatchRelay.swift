import CoreMetrics
import Logging
import Synchronization

/// Feeds committed events to dispatchers, in position order, and turns what they return into commands.
///
/// Each dispatcher follows the log on its own cursor (`dispatch:NAME` in the store's cursors), so one
/// that hangs or fails holds back nobody else. A step reads a page of events after the cursor, calls the
/// dispatcher for the matching ones (concurrently, each call retried with backoff up to the dispatcher's
/// `maxAttempts`), and commits the derived commands together with the new cursor: after a crash the step
/// is redone, and the commands' deterministic ids (event id, dispatcher, index) make the redo add nothing.
/// A dispatch that fails for good is parked as a dead letter and the dispatcher moves on.
public final class DispatchRelay: Sendable {
    /// The cursor of the single relay before each dispatcher had its own; read once to migrate.
    public static let legacyCursorName = "dispatch"

    /// The cursor of one dispatcher.
    public static func cursorName(_ dispatcher: String) -> String { "dispatch:\(dispatcher)" }

    public typealias Store = EventLog & CursorStore & DispatchLog

    let store: any Store
    let functions: any FunctionDirectory
    let processor: CommandProcessor
    let commits: CommitSignal
    let validator: any SchemaValidator
    let ids: IdDerivation
    let logger: Logger
    let pageSize = 512
    /// The loop of each dispatcher, with its cursor.
    private let loops = FollowerLoops<Int64>(kind: "dispatcher")

    public init(
        store: any Store, functions: any FunctionDirectory, processor: CommandProcessor, validator: any SchemaValidator,
        ids: IdDerivation, logger: Logger
    ) {
        self.store = store
        self.functions = functions
        self.processor = processor
        self.commits = store.commits
        self.validator = validator
        self.ids = ids
        self.logger = logger
    }

    /// Runs one loop per registered dispatcher until cancelled, starting loops for dispatchers registered
    /// later (a loop ends by itself when its dispatcher is removed).
    public func run() async throws {
        try await loops.run(
            commits: commits, logger: logger, functions: { [functions] in functions.dispatchers() }, initial: { $0 },
            eachRound: {
                // The lag of the slowest dispatcher (each also has its own gauge).
                let slowest = self.loops.values.withLock { $0.values.min() }
                EventoMetrics.dispatchLag.record(slowest.map { max(0, self.commits.head - $0) } ?? 0)
            },
            follow: { try await self.follow($0) })
    }

    /// The loop of one dispatcher: its pages of the log, until it is unregistered or the relay stops.
    func follow(_ name: String) async throws {
        let cursorName = Self.cursorName(name)
        var cursor: Int64
        if let own = try await store.cursor(cursorName) {
            cursor = own
        } else {
            cursor = try await store.cursor(Self.legacyCursorName) ?? 0
        }
        var lastSaved = cursor
        var lastSave = ContinuousClock.now
        let lag = Gauge(label: "evento_dispatcher_lag_events", dimensions: [("dispatcher", name)])
        while !Task.isCancelled {
            guard let dispatcher = functions.function(named: name), dispatcher.kind == .dispatcher else { break }
            let head = await commits.wait(after: cursor, timeout: .seconds(1))
            if Task.isCancelled { break }
            lag.record(head - cursor)
            loops.values.withLock { [cursor] in $0[name] = cursor }
            guard head > cursor else { continue }
            let page = try await store.events(afterPosition: cursor, limit: pageSize)
            guard let last = page.last else { continue }
            let work = page.filter { dispatcher.receives($0) }
            if work.isEmpty {
                cursor = last.position
                // Nothing derived: save the cursor now and then rather than on every page.
                if ContinuousClock.now - lastSave > .seconds(1) {
                    try await store.setCursor(cursorName, to: cursor)
                    lastSaved = cursor
                    lastSave = .now
                }
                continue
            }
            let results = await dispatch(work, to: dispatcher)
            if Task.isCancelled { break }  // calls cut short: the page is redone after the restart
            var commands: [NewCommand] = []
            var dead: [DeadDispatch] = []
            for r in results {
                switch r {
                case .commands(let c): commands.append(contentsOf: c)
                case .dead(let d): dead.append(d)
                }
            }
            let new = try await store.commit(DispatchCommit(cursorName: cursorName, position: last.position, commands: commands, deadDispatches: dead))
            processor.submit(new)
            cursor = last.position
            lastSaved = cursor
            lastSave = .now
        }
        if cursor != lastSaved { try? await store.setCursor(cursorName, to: cursor) }
    }

    enum Result {
        case commands([NewCommand])
        case dead(DeadDispatch)
    }

    /// Calls the dispatcher for each event, at most its `maxConcurrency` at once; results in event order.
    func dispatch(_ work: [EventEnvelope], to dispatcher: FunctionDefinition) async -> [Result] {
        await withTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: work.count)
            var next = 0
            func start(_ i: Int) {
                let event = work[i]
                group.addTask { (i, await self.dispatchWithRetries(event, dispatcher)) }
            }
            while next < min(dispatcher.maxConcurrency, work.count) {
                start(next)
                next += 1
            }
            for await (i, r) in group {
                results[i] = r
                if next < work.count {
                    start(next)
                    next += 1
                }
            }
            return results.map { $0! }
        }
    }

    func dispatchWithRetries(_ event: EventEnvelope, _ dispatcher: FunctionDefinition) async -> Result {
        var attempt = 0
        var lastError = ""
        while attempt < dispatcher.maxAttempts {
            attempt += 1
            do {
                return .commands(try await dispatchOnce(event, dispatcher))
            } catch let e as FunctionCallError {
                lastError = e.description
                if !e.retryable { break }
            } catch {
                lastError = "\(error)"
            }
            if attempt < dispatcher.maxAttempts {
                let delay = Duration.milliseconds(100) * (1 << min(attempt - 1, 7))
                try? await Task.sleep(for: delay)
                if Task.isCancelled { break }
            }
        }
        logger.warning(
            "dispatch failed for good; parked as a dead letter",
            metadata: ["evento.function": "\(dispatcher.name)", "evento.event.id": "\(event.id)", "error": "\(lastError)"])
        return .dead(
            DeadDispatch(
                id: ids.id("dead-dispatch", event.id, dispatcher.name), dispatcher: dispatcher.name, eventId: event.id,
                attempts: attempt, lastError: lastError, createdAt: .now()))
    }

    /// One dispatcher call: the commands it returns, with deterministic ids and the event as their cause.
    public func dispatchOnce(_ event: EventEnvelope, _ dispatcher: FunctionDefinition) async throws -> [NewCommand] {
        // The call's span, under the event's: the function sees it as its traceparent, and the commands it
        // returns are its children.
        var span = EventoTracing.start("dispatch \(dispatcher.name)", kind: .client, parent: event.traceparent)
        span?.set("evento.function", dispatcher.name)
        span?.set("evento.event.id", event.id)
        var sent = event
        if let span { sent.traceparent = span.traceparent }
        let returned: [FunctionProtocol.ReturnedCommand]
        do {
            let reply = try await functions.invoke(dispatcher, request: FunctionProtocol.dispatchRequest(event: sent))
            do throws(FunctionCallError) {
                returned = try FunctionProtocol.parseCommands(reply, function: dispatcher.name)
            } catch {
                throw Self.judged(error, reply: reply)
            }
            span?.set("evento.commands", returned.count)
            span?.end()
        } catch {
            span?.fail("\(error)")
            span?.end()
            throw error
        }
        let traceparent = span?.traceparent ?? event.traceparent.flatMap(TraceParent.init)?.child().description
        return try returned.enumerated().map { i, c in
            let payload: RawJSON
            do throws(EventoError) {
                payload = try validator.validateCommand(aggregate: c.entity.aggregate, type: c.type, payload: c.payload, field: "commands[\(i)].payload").0
            } catch {
                // The same event gets the same commands: trying again would fail the same way.
                throw FunctionCallError(function: dispatcher.name, message: "returned an invalid command: \(error.message)", retryable: false)
            }
            return NewCommand(
                id: ids.commandId(event: event.id, dispatcher: dispatcher.name, index: i), entity: c.entity, type: c.type, payload: payload,
                causationId: event.id, causationKind: .event, correlationId: event.correlationId, traceparent: traceparent,
                notBefore: c.notBefore)
        }
    }

    /// A reply that fails validation. When the reply is a JSON object and not the function's own error, what
    /// is wrong is its content (an entity id with a space, a missing field): the dispatcher answers an event
    /// the same way every time, so the failure is not retried and the dispatch is parked at once. A reply
    /// that is not JSON (cut short, say) stays retryable, and so does the function's own error unless it
    /// says otherwise.
    static func judged(_ error: FunctionCallError, reply: [UInt8]) -> FunctionCallError {
        guard error.retryable, let value = try? JSONParser.parse(reply), case .object = value,
            FunctionProtocol.failure(value, function: error.function) == nil
        else { return error }
        return FunctionCallError(function: error.function, message: error.message, retryable: false, reason: error.reason)
    }

    /// Retries a dead dispatch once; on success its commands are queued and the dead letter removed.
    public func retry(_ dead: DeadDispatch) async throws -> [CommandRecord] {
        guard let dispatcher = functions.function(named: dead.dispatcher), dispatcher.kind == .dispatcher else {
            throw EventoError(.unknownReference, "dispatcher \(dead.dispatcher) is no longer registered")
        }
        guard let event = try await store.event(id: dead.eventId) else {
            throw EventoError(.internal, "event \(dead.eventId) of dead dispatch \(dead.id) is missing")
        }
        let commands: [NewCommand]
        do {
            commands = try await dispatchOnce(event, dispatcher)
        } catch let e as FunctionCallError {
            var updated = dead
            updated.attempts += 1
            updated.lastError = e.description
            _ = try await store.commit(DispatchCommit(cursorName: "", position: 0, commands: [], deadDispatches: [updated]))
            throw EventoError(.functionFailed, "the dispatch failed again: \(e.description)")
        }
        let new = try await store.commit(DispatchCommit(cursorName: "", position: 0, commands: commands, deadDispatches: []))
        try await store.removeDeadDispatch(id: dead.id)
        processor.submit(new)
        return new
    }
}
