import CoreMetrics
import Logging

/// Feeds committed events to dispatchers, in position order, and turns what they return into commands.
///
/// A relay cursor (`dispatch`) records how far the log has been dispatched. Each step reads a page of
/// events after the cursor, calls every matching dispatcher (concurrently, each call retried with backoff
/// up to the dispatcher's `maxAttempts`), and commits the derived commands together with the new cursor:
/// after a crash the step is redone, and the commands' deterministic ids (event id, dispatcher, index)
/// make the redo add nothing. A dispatch that fails for good is parked as a dead letter and the relay
/// moves on.
public final class DispatchRelay: Sendable {
    public static let cursorName = "dispatch"

    let store: any PipelineStore
    let functions: any FunctionDirectory
    let processor: CommandProcessor
    let commits: CommitSignal
    let validator: any SchemaValidator
    let logger: Logger
    let pageSize = 512
    let maxConcurrentCalls = 64

    public init(
        store: any PipelineStore, functions: any FunctionDirectory, processor: CommandProcessor, commits: CommitSignal,
        validator: any SchemaValidator, logger: Logger
    ) {
        self.store = store
        self.functions = functions
        self.processor = processor
        self.commits = commits
        self.validator = validator
        self.logger = logger
    }

    public func run() async throws {
        var cursor = try await store.cursor(Self.cursorName) ?? 0
        var lastSaved = cursor
        var lastSave = ContinuousClock.now
        while !Task.isCancelled {
            let head = await commits.wait(after: cursor, timeout: .seconds(1))
            if Task.isCancelled { break }
            EventoMetrics.dispatchLag.record(head - cursor)
            guard head > cursor else { continue }
            let page = try await store.events(afterPosition: cursor, limit: pageSize)
            guard let last = page.last else { continue }
            let dispatchers = functions.dispatchers()
            let work = page.flatMap { e in dispatchers.filter { $0.receives(e) }.map { (event: e, dispatcher: $0) } }
            if work.isEmpty {
                cursor = last.position
                // Nothing derived: save the cursor now and then rather than on every page.
                if ContinuousClock.now - lastSave > .seconds(1) {
                    try await store.setCursor(Self.cursorName, to: cursor)
                    lastSaved = cursor
                    lastSave = .now
                }
                continue
            }
            let results = await dispatch(work)
            var commands: [NewCommand] = []
            var dead: [DeadDispatch] = []
            for r in results {
                switch r {
                case .commands(let c): commands.append(contentsOf: c)
                case .dead(let d): dead.append(d)
                }
            }
            let new = try await store.commit(DispatchCommit(cursorName: Self.cursorName, position: last.position, commands: commands, deadDispatches: dead))
            processor.submit(new)
            cursor = last.position
            lastSaved = cursor
            lastSave = .now
        }
        if cursor != lastSaved { try? await store.setCursor(Self.cursorName, to: cursor) }
    }

    enum Result {
        case commands([NewCommand])
        case dead(DeadDispatch)
    }

    /// Calls the dispatchers, at most `maxConcurrentCalls` at once; results in the order of `work`.
    func dispatch(_ work: [(event: EventEnvelope, dispatcher: FunctionDefinition)]) async -> [Result] {
        await withTaskGroup(of: (Int, Result).self) { group in
            var results = [Result?](repeating: nil, count: work.count)
            var next = 0
            func start(_ i: Int) {
                let item = work[i]
                group.addTask { (i, await self.dispatchWithRetries(item.event, item.dispatcher)) }
            }
            while next < min(maxConcurrentCalls, work.count) {
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
                id: Identifiers.derived("dead-dispatch", event.id, dispatcher.name), dispatcher: dispatcher.name, eventId: event.id,
                attempts: attempt, lastError: lastError, createdAt: .now()))
    }

    /// One dispatcher call: the commands it returns, with deterministic ids and the event as their cause.
    public func dispatchOnce(_ event: EventEnvelope, _ dispatcher: FunctionDefinition) async throws -> [NewCommand] {
        let reply = try await functions.invoke(dispatcher, request: FunctionProtocol.dispatchRequest(event: event))
        let returned = try FunctionProtocol.parseCommands(reply, function: dispatcher.name)
        let traceparent = event.traceparent.flatMap(TraceParent.init)?.child().description
        return try returned.enumerated().map { i, c in
            let payload: RawJSON
            do throws(EventoError) {
                payload = try validator.validateCommand(aggregate: c.entity.aggregate, type: c.type, payload: c.payload, field: "commands[\(i)].payload").0
            } catch {
                throw FunctionCallError(function: dispatcher.name, message: "returned an invalid command: \(error.message)", retryable: true)
            }
            return NewCommand(
                id: Identifiers.derived(event.id, dispatcher.name, String(i)), entity: c.entity, type: c.type, payload: payload,
                causationId: event.id, causationKind: .event, correlationId: event.correlationId, traceparent: traceparent)
        }
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
