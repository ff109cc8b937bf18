import CoreMetrics
import DequeModule
import HeapModule
import Logging
import Synchronization

/// How a command ended: its final record, and its events when the processor knows them (it committed
/// them); nil when another instance of the command finished first and only the record is at hand.
public struct CommandOutcome: Sendable {
    public var record: CommandRecord
    public var events: [EventEnvelope]?
    /// Set when the command was never run because the log holds another command under its id (a command
    /// submitted for its outcome is checked against the log only when its result is written).
    public var conflict: IdempotencyConflict?
    /// Set when the command failed because its new state would take a unique value another entity holds.
    public var uniqueConflict: UniqueConflict?

    public init(record: CommandRecord, events: [EventEnvelope]?, conflict: IdempotencyConflict? = nil, uniqueConflict: UniqueConflict? = nil) {
        self.record = record
        self.events = events
        self.conflict = conflict
        self.uniqueConflict = uniqueConflict
    }
}

/// Runs commands through their handlers: one lane per entity (commands to one entity run in order, one at a
/// time), many lanes at once (commands to different entities run in parallel). `LaneScheduler` decides
/// which lanes run; this type runs them.
///
/// For one command: load the aggregate (its snapshot, in memory for live entities, caught up when it
/// lags), call the handler, validate its events, fold them with the aggregator (in the same round trip
/// when handler and aggregator are the same program), then commit events + command result + snapshot in
/// one transaction at the version the handler saw. A conflict re-runs the handler on the fresh state
/// (bounded); a failure is retried with exponential backoff up to the handler's `maxAttempts` (the lane
/// gives up its slot meanwhile), then the command is dead.
///
/// A command submitted with `enqueueUnlogged` is in memory only until its completion logs it with its
/// events (one write per command); if anything else happens first (a failed attempt, its waiter giving
/// up), it is logged then.
public final class CommandProcessor: Sendable {
    public struct Configuration: Sendable {
        /// Lanes (entities) running a command at once, over all aggregates. Each aggregate is also limited
        /// by its handler's `maxConcurrency`.
        public var maxActiveLanes = 1024
        /// Most commands accepted and not finished (queued or running) before new ones are refused with
        /// 429 (`--max-backlog`): a flood waits at the clients, not in memory. Commands dispatchers derive
        /// and retried dead letters are never refused.
        public var maxBacklog = 20_000
        /// Most payload bytes of such commands before new ones are refused likewise (`--max-backlog-bytes`).
        public var maxBacklogBytes = 256 * 1024 * 1024
        /// Most commands held for a later time (durable timers, kept in memory until due) before clients'
        /// new scheduled commands are refused likewise (`--max-scheduled`); their payload bytes have a bound
        /// of their own at `maxBacklogBytes`. Only scheduled commands are refused by these (a timer may wait
        /// for years: it must not lock out the work due now). Timers dispatchers set are never refused.
        public var maxScheduled = 100_000
        /// Handler re-runs after version conflicts before the command fails.
        public var maxConflictRetries = 8
        /// First retry delay; doubles per attempt up to `maxBackoff`.
        public var baseBackoff: Duration = .milliseconds(100)
        public var maxBackoff: Duration = .seconds(10)
        /// Most events one command may produce; a handler returning more fails the command (not retried).
        public var maxEventsPerCommand = 1_000
        /// Largest event payload (JSON bytes) a handler may return; a larger one fails the command (not retried).
        public var maxEventBytes = 4 * 1024 * 1024
        /// Queue every pending command of the log at start. A cluster instance adopts the pending commands
        /// of each partition it takes instead (`adopt`).
        public var recoverAtStart = true
        public init() {}
    }

    public typealias Store = CommandLog & EventLog

    let store: any Store
    let functions: any FunctionDirectory
    let aggregates: Aggregates
    let validator: any SchemaValidator
    let configuration: Configuration
    let ids: IdDerivation
    let logger: Logger
    /// Where each entity's commands run (everything here on a single instance).
    public let placement: any CommandPlacement
    /// Resolved when a command reaches a final status.
    public let completions = Waiters<CommandOutcome>()

    /// What `run()` must start: a lane's task, or a timer that ends a lane's backoff.
    private enum Work {
        case lane(String)
        case wake(String, after: Duration)
        /// The earliest durable timer is due after this long; `arming` tells the timer task that is current
        /// (an earlier timer arms a new task, and the one it replaces must not re-arm when it wakes).
        case timer(after: Duration, arming: Int)
    }

    /// A command waiting for its `notBefore` (a durable timer). It waits outside its entity's lane, so the
    /// entity's other commands run meanwhile; when due it joins the lane's end.
    struct Timer: Comparable {
        var due: Int64
        var order: Int
        var queued: LaneScheduler.Queued
        static func < (a: Timer, b: Timer) -> Bool { (a.due, a.order) < (b.due, b.order) }
        static func == (a: Timer, b: Timer) -> Bool { a.due == b.due && a.order == b.order }
    }

    private struct State {
        var scheduler: LaneScheduler
        var work: AsyncStream<Work>.Continuation?
        /// Set until the pending commands of the log are all queued: commands submitted meanwhile wait
        /// in `held`, so that none overtakes an older pending command of its entity.
        var recovering = true
        var held: [LaneScheduler.Queued] = []
        var heldIds: Set<String> = []
        /// Partitions whose pending commands are being queued (just taken over): their commands wait in
        /// `held` likewise.
        var adopting: Set<Int> = []
        /// Commands that finished here lately (bounded): a scan that read one while it was still pending
        /// must not queue it again.
        var recentlyFinished: Set<String> = []
        var recentlyFinishedOrder: Deque<String> = []
        /// Handlers whose replies to `"fold": true` came without a state: they get separate aggregator calls.
        var noFold: Set<String> = []
        /// Scheduled commands (by due time), their ids, and the due time the timer task sleeps until.
        var timers = Heap<Timer>()
        var timerIds: Set<String> = []
        var timerOrder = 0
        var armedAt: Int64?
        /// Bumped at each arming: only the task of the latest one re-arms.
        var arming = 0
        /// Payload bytes of the commands in the scheduler (queued or running).
        var backlogBytes = 0
        /// Payload bytes of the commands in `timers`.
        var timerBytes = 0
    }

    private let state: Mutex<State>
    private let timerTaskCount = Atomic<Int>(0)

    public init(
        store: any Store, functions: any FunctionDirectory, aggregates: Aggregates, validator: any SchemaValidator, ids: IdDerivation,
        configuration: Configuration = Configuration(), placement: any CommandPlacement = LocalPlacement(), logger: Logger
    ) {
        self.placement = placement
        self.store = store
        self.functions = functions
        self.aggregates = aggregates
        self.validator = validator
        self.configuration = configuration
        self.ids = ids
        self.logger = logger
        var initial = State(scheduler: LaneScheduler(maxRunning: configuration.maxActiveLanes))
        initial.recovering = configuration.recoverAtStart
        state = Mutex(initial)
    }

    /// Whether a command of `entity` must wait in `held` (its pending elders are still being queued).
    private func isHeld(_ entity: EntityId, _ s: State) -> Bool {
        if s.recovering { return true }
        guard !s.adopting.isEmpty, let p = placement.partition(of: entity) else { return false }
        return s.adopting.contains(p)
    }

    /// Processes commands until cancelled: first the pending ones the log holds (a restart finishes what
    /// was accepted before), then whatever is submitted.
    public func run() async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: Work.self)
        state.withLock { $0.work = continuation }
        try await withThrowingDiscardingTaskGroup { group in
            if configuration.recoverAtStart { group.addTask { try await self.recover() } }
            for await work in stream {
                switch work {
                case .lane(let entity):
                    group.addTask { await self.runLane(entity) }
                case .wake(let entity, let delay):
                    group.addTask {
                        do { try await Task.sleep(for: delay) } catch { return }
                        self.due(entity)
                    }
                case .timer(let delay, let arming):
                    group.addTask {
                        self.timerTaskCount.add(1, ordering: .relaxed)
                        defer { self.timerTaskCount.subtract(1, ordering: .relaxed) }
                        // Sleeps in slices of at most a second, and ends early once an earlier timer armed a
                        // task of its own: one timer task at a time, give or take a second.
                        let deadline = ContinuousClock.now + delay
                        while ContinuousClock.now < deadline {
                            guard self.state.withLock({ $0.arming == arming }) else { return }
                            do { try await Task.sleep(for: min(.seconds(1), deadline - .now)) } catch { return }
                        }
                        self.fireTimers(arming: arming)
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
        let count = try await queuePending { after in try await self.store.pendingCommands(afterSeq: after, limit: 1000) }
        let held = state.withLock { s -> [LaneScheduler.Queued] in
            s.recovering = false
            return takeHeld(&s) { _ in true }
        }
        enqueue(held)
        if count > 0 { logger.info("recovered pending commands", metadata: ["count": "\(count)"]) }
    }

    /// Holds back the commands of partitions about to be adopted (call before placing them here).
    public func beginAdopting(_ partitions: Set<Int>) {
        state.withLock { $0.adopting.formUnion(partitions) }
    }

    /// Takes over partitions (in a cluster): queues their pending commands in acceptance order, holding
    /// the commands submitted for them meanwhile until then, so that none overtakes an elder of its entity.
    /// - Parameter pending: pages of the partitions' pending commands after a log sequence.
    public func adopt(partitions: Set<Int>, pending: @Sendable (Int64) async throws -> [(seq: Int64, record: CommandRecord)]) async throws {
        state.withLock { $0.adopting.formUnion(partitions) }
        let count: Int
        do {
            count = try await queuePending(pending)
        } catch {
            let held = state.withLock { s in
                s.adopting.subtract(partitions)
                return takeHeld(&s) { q in self.placement.partition(of: q.record.entity).map(partitions.contains) ?? false }
            }
            enqueue(held)
            throw error
        }
        let held = state.withLock { s in
            s.adopting.subtract(partitions)
            return takeHeld(&s) { q in self.placement.partition(of: q.record.entity).map(partitions.contains) ?? false }
        }
        enqueue(held)
        if count > 0 { logger.info("adopted pending commands", metadata: ["count": "\(count)", "partitions": "\(partitions.count)"]) }
    }

    /// Removes the held commands `matching` from `held`.
    private func takeHeld(_ s: inout State, matching: (LaneScheduler.Queued) -> Bool) -> [LaneScheduler.Queued] {
        var taken: [LaneScheduler.Queued] = []
        var kept: [LaneScheduler.Queued] = []
        for q in s.held {
            if matching(q) {
                taken.append(q)
                s.heldIds.remove(q.record.id)
            } else {
                kept.append(q)
            }
        }
        s.held = kept
        return taken
    }

    /// Queues pages of pending commands; a command held meanwhile under a paged command's id is that
    /// command (its waiter gets the logged one's outcome), or another one, refused.
    private func queuePending(_ pages: (Int64) async throws -> [(seq: Int64, record: CommandRecord)]) async throws -> Int {
        var after: Int64 = 0
        var count = 0
        while true {
            try Task.checkCancellation()
            let page = try await pages(after)
            guard let last = page.last else { break }
            let records = page.map(\.record)
            let refused = state.withLock { s -> [(String, IdempotencyConflict)] in
                var refused: [(String, IdempotencyConflict)] = []
                for r in records where s.heldIds.remove(r.id) != nil {
                    guard let i = s.held.firstIndex(where: { $0.record.id == r.id }) else { continue }
                    let held = s.held.remove(at: i)
                    if let conflict = held.record.conflict(with: r) { refused.append((r.id, conflict)) }
                }
                return refused
            }
            for (id, conflict) in refused { completions.resolve(id, with: CommandOutcome(record: records.first { $0.id == id }!, events: nil, conflict: conflict)) }
            enqueue(records.map { LaneScheduler.Queued(record: $0, isLogged: true) })
            count += page.count
            after = last.seq
            if page.count < 1000 { break }
        }
        return count
    }

    /// Queues logged commands on their entities' lanes (in the given order). Commands already queued, and
    /// commands in a final status, are ignored.
    public func submit(_ records: [CommandRecord]) {
        submit(records.map { LaneScheduler.Queued(record: $0, isLogged: true) })
    }

    /// What `enqueueUnlogged` did.
    public enum Enqueued: Sendable {
        case queued
        /// The same command (same id, entity, type and payload) is queued already: wait for its outcome.
        case joined
        /// Another command under this id is queued already.
        case refused(IdempotencyConflict)
    }

    /// Queues a command that is not in the log yet: its completion logs it together with its events.
    /// Whoever waits for it must call `ensureLogged` before answering that it was accepted.
    public func enqueueUnlogged(_ record: CommandRecord) -> Enqueued {
        let (result, work) = state.withLock { s -> (Enqueued, AsyncStream<Work>.Continuation?) in
            if isHeld(record.entity, s) {
                if let held = s.held.first(where: { $0.record.id == record.id }) {
                    return (held.record.conflict(with: record).map { .refused($0) } ?? .joined, nil)
                }
                s.heldIds.insert(record.id)
                s.held.append(LaneScheduler.Queued(record: record, isLogged: false))
                return (.queued, nil)
            }
            switch s.scheduler.enqueue(record, isLogged: false) {
            case .queued:
                s.backlogBytes += record.payload.text.utf8.count
                return (.queued, s.work)
            case .alreadyQueued(let existing): return (existing.conflict(with: record).map { .refused($0) } ?? .joined, nil)
            }
        }
        if case .queued = result {
            start(work)
            EventoMetrics.commandBacklog.record(backlog)
        }
        return result
    }

    private func submit(_ queued: [LaneScheduler.Queued]) {
        // Commands of partitions another instance runs are its to run (it learns of them from the log).
        let mine = queued.filter { placement.placement(of: $0.record.entity).runsHere }
        let ready = state.withLock { s -> [LaneScheduler.Queued] in
            var ready: [LaneScheduler.Queued] = []
            for q in mine where !q.record.status.isFinal && !s.recentlyFinished.contains(q.record.id) {
                if isHeld(q.record.entity, s) {
                    if s.heldIds.insert(q.record.id).inserted { s.held.append(q) }
                } else {
                    ready.append(q)
                }
            }
            return ready
        }
        if !ready.isEmpty { enqueue(ready) }
    }

    /// Logs a command accepted with `enqueueUnlogged`, unless it is logged (or finished) already.
    /// - Returns: its record as the log holds it.
    public func ensureLogged(_ command: NewCommand) async throws -> CommandRecord {
        let record = try await store.submit([command])[0].record
        state.withLock { s in
            s.scheduler.markLogged(record.id)
            if s.heldIds.contains(record.id), let i = s.held.firstIndex(where: { $0.record.id == record.id }) { s.held[i].isLogged = true }
        }
        return record
    }

    private func enqueue(_ queued: [LaneScheduler.Queued]) {
        let now = Timestamp.now()
        let (backlog, work, timer) = state.withLock { s -> (Int, AsyncStream<Work>.Continuation?, (Duration, Int)?) in
            // A logged command whose id is queued as another, unlogged one joins the lane when that one is
            // refused at its completion (see `process`).
            var timer: (Duration, Int)?
            for q in queued where !q.record.status.isFinal {
                if let due = q.record.notBefore, due > now {
                    timer = schedule(q, due: due, now: now, &s) ?? timer
                } else if case .queued = s.scheduler.enqueue(q.record, isLogged: q.isLogged) {
                    s.backlogBytes += q.record.payload.text.utf8.count
                }
            }
            return (s.scheduler.backlog, s.work, timer)
        }
        if let (delay, arming) = timer { work?.yield(.timer(after: delay, arming: arming)) }
        start(work)
        EventoMetrics.commandBacklog.record(backlog)
    }

    /// Holds a command until `due`. Returns the timer task to start (its delay and arming) when this is now
    /// the earliest timer.
    private func schedule(_ q: LaneScheduler.Queued, due: Timestamp, now: Timestamp, _ s: inout State) -> (Duration, Int)? {
        guard s.timerIds.insert(q.record.id).inserted else { return nil }
        s.timerOrder += 1
        s.timers.insert(Timer(due: due.millisecondsSinceEpoch, order: s.timerOrder, queued: q))
        s.timerBytes += q.record.payload.text.utf8.count
        EventoMetrics.commandsScheduled.record(s.timers.count)
        if let armed = s.armedAt, armed <= due.millisecondsSinceEpoch { return nil }
        s.armedAt = due.millisecondsSinceEpoch
        s.arming += 1
        return (.milliseconds(due.millisecondsSinceEpoch - now.millisecondsSinceEpoch), s.arming)
    }

    /// Moves the commands that are due to their lanes (in due order) and, when this is the current timer
    /// task (`arming`), re-arms for the next: a task an earlier timer replaced never arms another.
    private func fireTimers(arming: Int) {
        let now = Timestamp.now().millisecondsSinceEpoch
        let (due, next, work) = state.withLock { s -> ([LaneScheduler.Queued], (Duration, Int)?, AsyncStream<Work>.Continuation?) in
            var due: [LaneScheduler.Queued] = []
            while let first = s.timers.min, first.due <= now {
                let t = s.timers.removeMin()
                s.timerIds.remove(t.queued.record.id)
                s.timerBytes = max(0, s.timerBytes - t.queued.record.payload.text.utf8.count)
                due.append(t.queued)
            }
            EventoMetrics.commandsScheduled.record(s.timers.count)
            guard arming == s.arming else { return (due, nil, s.work) }
            s.armedAt = nil
            guard let first = s.timers.min else { return (due, nil, s.work) }
            s.armedAt = first.due
            s.arming += 1
            return (due, (.milliseconds(first.due - now), s.arming), s.work)
        }
        if let (delay, arming) = next { work?.yield(.timer(after: delay, arming: arming)) }
        guard !due.isEmpty else { return }
        var ready = due
        for i in ready.indices { ready[i].record.notBefore = nil }
        submit(ready)
    }

    /// Commands waiting for their time (durable timers held here).
    public var scheduled: Int { state.withLock { $0.timers.count } }

    /// Timer tasks sleeping: one, once a task an earlier timer replaced has noticed (within a second).
    public var timerTasks: Int { timerTaskCount.load(ordering: .relaxed) }

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

    /// Whether a new command from a client may be accepted now; nil when it may, else why not (the backlog
    /// is at `maxBacklog` commands or `maxBacklogBytes` payload bytes; for a command to be held until later,
    /// `maxScheduled` timers or `maxBacklogBytes` of their payloads are held already).
    public func overloaded(scheduling: Bool = false) -> String? {
        let (count, bytes, timers, timerBytes) = state.withLock { s in
            // Held commands (their entity's elders are still being queued) are few and brief: summed here.
            (s.scheduler.backlog + s.held.count, s.backlogBytes + s.held.reduce(0) { $0 + $1.record.payload.text.utf8.count }, s.timers.count, s.timerBytes)
        }
        if scheduling && timers >= configuration.maxScheduled {
            return "\(timers) commands are scheduled for later (the limit is \(configuration.maxScheduled), --max-scheduled)"
        }
        if scheduling && timerBytes >= configuration.maxBacklogBytes {
            return "the commands scheduled for later hold \(timerBytes) payload bytes (the limit is \(configuration.maxBacklogBytes), --max-backlog-bytes)"
        }
        if count >= configuration.maxBacklog {
            return "\(count) commands are accepted and not finished (the limit is \(configuration.maxBacklog), --max-backlog)"
        }
        if bytes >= configuration.maxBacklogBytes {
            return "the unfinished commands hold \(bytes) payload bytes (the limit is \(configuration.maxBacklogBytes), --max-backlog-bytes)"
        }
        return nil
    }

    private func runLane(_ entity: String) async {
        while let queued = state.withLock({ $0.scheduler.front(of: entity) }) {
            if Task.isCancelled {
                state.withLock { $0.scheduler.abandon(entity) }
                return
            }
            switch await process(queued) {
            case .finished(let requeue):
                let (more, backlog) = state.withLock { s in
                    s.backlogBytes = max(0, s.backlogBytes - queued.record.payload.text.utf8.count)
                    if placement.partition(of: queued.record.entity) != nil { Self.noteFinished(queued.record.id, &s) }
                    return (s.scheduler.finished(entity), s.scheduler.backlog)
                }

                EventoMetrics.commandBacklog.record(backlog)
                if let requeue { submit([requeue]) }
                if !more {
                    start(state.withLock { $0.work })
                    return
                }
            case .handedOver:
                let (more, backlog) = state.withLock { s in
                    s.backlogBytes = max(0, s.backlogBytes - queued.record.payload.text.utf8.count)
                    return (s.scheduler.finished(entity), s.scheduler.backlog)
                }
                EventoMetrics.commandBacklog.record(backlog)
                // Taken back before it left the lane (so an adoption skipped it): queue it again.
                if placement.placement(of: queued.record.entity).runsHere, let stored = try? await store.command(id: queued.record.id),
                    stored.status == .pending
                {
                    submit([stored])
                }
                if !more {
                    start(state.withLock { $0.work })
                    return
                }
            case .retry(let attempts, let isLogged, let delay):
                let work = state.withLock { s in
                    s.scheduler.backOff(entity, attempts: attempts, isLogged: isLogged)
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

    /// Remembers a finished command (bounded to the last 100,000).
    private static func noteFinished(_ id: String, _ s: inout State) {
        guard s.recentlyFinished.insert(id).inserted else { return }
        s.recentlyFinishedOrder.append(id)
        if s.recentlyFinishedOrder.count > 100_000, let old = s.recentlyFinishedOrder.popFirst() { s.recentlyFinished.remove(old) }
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
        case succeeded(CommandOutcome)
        case failed(String, retryable: Bool)
        case conflicted(String)
        /// Its new state would take a unique value another entity holds: it fails (not retried).
        case taken(UniqueConflict)
        /// The log holds another command under this id: nothing is written for this one.
        case refused(IdempotencyConflict)
        /// Its partition's lease changed hands: its new owner runs it.
        case handedOver
    }

    /// What became of one attempt of a lane's front command.
    enum Step {
        /// It reached a final status (or was refused); `requeue`: the logged command its id belongs to,
        /// which is to run now.
        case finished(requeue: CommandRecord?)
        /// It failed and is tried again after `delay`; `isLogged`: the log holds it now.
        case retry(attempts: Int, isLogged: Bool, delay: Duration)
        /// Shutdown cut it short; it stays pending in the log (or, never logged, unanswered).
        case interrupted
        /// Its partition went to another instance, which runs it (it is in the log).
        case handedOver
    }

    func process(_ queued: LaneScheduler.Queued) async -> Step {
        let command = queued.record
        let attempts = command.attempts + 1
        let placed = placement.placement(of: command.entity)
        guard placed.runsHere else { return await handOver(queued) }
        // The command's span (under its traceparent: the HTTP request, the dispatch or the client that sent
        // it): the function calls and the commit of this attempt go under it, and so do its events.
        var span = EventoTracing.start("command \(command.type)", parent: command.traceparent)
        span?.set("evento.command.id", command.id)
        span?.set("evento.command.type", command.type)
        span?.set("evento.entity", command.entity.rawValue)
        span?.set("evento.attempt", attempts)
        let outcome: Outcome
        do {
            outcome = try await attempt(command, isLogged: queued.isLogged, attempt: attempts, fence: placed.fence, span: span)
        } catch let e as FunctionCallError {
            outcome = .failed(e.description, retryable: e.retryable)
        } catch let e as EventoError where e.code == .validation {
            outcome = .failed(e.message, retryable: true)
        } catch let c as IdempotencyConflict {
            outcome = .failed(c.description, retryable: false)
        } catch is CancellationError {
            span?.fail("interrupted (shutdown or hand-over)")
            span?.end()
            return .interrupted
        } catch {
            outcome = .failed("\(error)", retryable: true)
        }
        if Task.isCancelled, case .failed = outcome {
            span?.fail("interrupted (shutdown or hand-over)")
            span?.end()
            return .interrupted
        }
        if span != nil {
            switch outcome {
            case .failed(let m, _), .conflicted(let m): span?.fail(m)
            case .taken(let u): span?.fail(u.description)
            case .refused(let c): span?.fail(c.description)
            case .succeeded, .handedOver: break
            }
            span?.end()
        }
        let maxAttempts = functions.handler(for: command.entity.aggregate)?.maxAttempts ?? FunctionDefinition.defaultMaxAttempts
        let status: CommandStatus
        let message: String
        switch outcome {
        case .succeeded(let done):
            // A command another instance of it finished first was not run by this attempt.
            if done.events != nil { EventoMetrics.commandsFinished(.succeeded).increment() }
            completions.resolve(command.id, with: done)
            return .finished(requeue: nil)
        case .refused(let conflict):
            completions.resolve(command.id, with: CommandOutcome(record: command, events: nil, conflict: conflict))
            return .finished(requeue: await loggedPending(command.id, after: queued))
        case .handedOver:
            return await handOver(queued)
        case .conflicted(let m):
            status = .failed
            message = m
        case .taken(let u):
            status = .failed
            message = u.description
        case .failed(let m, let retryable):
            status = !retryable || attempts >= maxAttempts ? .dead : .pending
            message = m
        }
        // Its partition went to another instance meanwhile: the failure is not this instance's to record.
        guard placement.placement(of: command.entity).runsHere else { return await handOver(queued) }
        var logged = logger
        logged[metadataKey: "evento.command.id"] = "\(command.id)"
        logged[metadataKey: "evento.entity"] = "\(command.entity)"
        logged.warning("command attempt \(attempts) failed: \(message)", metadata: ["status": "\(status.rawValue)"])
        EventoMetrics.commandsFinished(status).increment()
        let record: CommandRecord
        do {
            record = try await store.recordFailure(command, status: status, attempts: attempts, error: message, fence: placed.fence)
        } catch is FenceLost {
            return await handOver(queued)
        } catch let conflict as IdempotencyConflict {
            // Never logged, and its id is another command's: nothing more to do for this one.
            completions.resolve(command.id, with: CommandOutcome(record: command, events: nil, conflict: conflict))
            return .finished(requeue: await loggedPending(command.id, after: queued))
        } catch {
            // Not even the failure can be written (the store is failing): try again later, like a failure.
            logged.error("cannot record the failed attempt: \(error)")
            return .retry(attempts: attempts - 1, isLogged: queued.isLogged, delay: backoff(attempts))
        }
        // The log decides: a command that another instance of it finished meanwhile is done, whatever this
        // attempt thought.
        if record.status.isFinal {
            var taken: UniqueConflict?
            if case .taken(let u) = outcome, record.status == .failed { taken = u }
            completions.resolve(command.id, with: CommandOutcome(record: record, events: record.status == .succeeded ? nil : [], uniqueConflict: taken))
            return .finished(requeue: nil)
        }
        return .retry(attempts: attempts, isLogged: true, delay: backoff(attempts))
    }

    /// Leaves a command to the instance that now holds its partition: logged (if it was not yet) so that
    /// its new owner finds it; whoever waits for it here is answered when the log says it finished.
    private func handOver(_ queued: LaneScheduler.Queued) async -> Step {
        // Taken back meanwhile (a lease lost and retaken): run it again here, in its place in the lane.
        if placement.placement(of: queued.record.entity).runsHere {
            return .retry(attempts: queued.record.attempts, isLogged: queued.isLogged, delay: .milliseconds(10))
        }
        guard !queued.isLogged else { return .handedOver }
        do {
            _ = try await store.submit([NewCommand(queued.record)])
            return .handedOver
        } catch let conflict as IdempotencyConflict {
            completions.resolve(queued.record.id, with: CommandOutcome(record: queued.record, events: nil, conflict: conflict))
            return .finished(requeue: nil)
        } catch {
            logger.error("cannot log a command for its partition's new owner: \(error)", metadata: ["evento.command.id": "\(queued.record.id)"])
            return .retry(attempts: queued.record.attempts, isLogged: false, delay: backoff(1))
        }
    }

    /// After an unlogged command was refused because the log holds another command under its id: that
    /// command, when it is pending (it was accepted while this one was queued, so it is in no lane).
    private func loggedPending(_ id: String, after refused: LaneScheduler.Queued) async -> CommandRecord? {
        guard !refused.isLogged, let stored = try? await store.command(id: id), stored.status == .pending else { return nil }
        return stored
    }

    func backoff(_ attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 20)
        let base = configuration.baseBackoff * (1 << exponent)
        let capped = base > configuration.maxBackoff ? configuration.maxBackoff : base
        return capped * Double.random(in: 0.8...1.2)
    }

    func attempt(_ command: CommandRecord, isLogged: Bool, attempt: Int, fence: Fence? = nil, span: Span? = nil) async throws -> Outcome {
        guard let handler = functions.handler(for: command.entity.aggregate) else {
            return .failed("no handler is registered for aggregate \(command.entity.aggregate)", retryable: true)
        }
        let aggregator = functions.aggregator(for: command.entity.aggregate)
        var lastConflict = ""
        var fresh = false
        for _ in 0...configuration.maxConflictRetries {
            let aggregate = try await aggregates.current(command.entity, fresh: fresh)
            // One round trip for handle and fold when the aggregator is the handler's own program.
            let fold = aggregator.map { foldsInHandler(handler, $0) } ?? false
            var call = span?.child("handle \(handler.name)", kind: .client)
            call?.set("evento.function", handler.name)
            call?.set("evento.aggregate.version", Int(aggregate.version))
            let handled: FunctionProtocol.Handled
            do {
                let reply = try await functions.invoke(
                    handler,
                    request: FunctionProtocol.handleRequest(
                        command: command, attempt: attempt, aggregate: aggregate, fold: fold, traceparent: call?.traceparent))
                handled = try FunctionProtocol.parseHandled(reply, function: handler.name)
                call?.end()
            } catch {
                call?.fail("\(error)")
                call?.end()
                throw error
            }
            let returned = handled.events
            guard !returned.isEmpty else {
                return .failed("\(handler.name): returned no events (a rejection is an event too)", retryable: true)
            }
            guard returned.count <= configuration.maxEventsPerCommand else {
                return .failed(
                    "\(handler.name): returned \(returned.count) events; a command may produce at most \(configuration.maxEventsPerCommand)",
                    retryable: false)
            }
            let now = Timestamp.now()
            // A handler's events get fresh UUIDv7s: unguessable (nobody can take one first with POST /events),
            // time-ordered (appended at the end of the id index instead of all over it), and they need not
            // be the same on a redo: a command's events, its record and its snapshot commit together, so a
            // command that ran again after a crash had written nothing the first time.
            let traceparent = span?.traceparent ?? command.traceparent.flatMap(TraceParent.init)?.child().description
            var events: [NewEvent] = []
            events.reserveCapacity(returned.count)
            for (i, e) in returned.enumerated() {
                let (payload, schemaId): (RawJSON, Int?)
                do {
                    (payload, schemaId) = try validator.validateEvent(
                        aggregate: command.entity.aggregate, type: e.type, payload: e.payload, field: "events[\(i)].payload")
                } catch {
                    throw FunctionCallError(function: handler.name, message: "returned an invalid event: \(error.message)", retryable: true)
                }
                guard payload.text.utf8.count <= configuration.maxEventBytes else {
                    return .failed(
                        "\(handler.name): events[\(i)] (\(e.type)) has a payload of \(payload.text.utf8.count) bytes; the limit is \(configuration.maxEventBytes)",
                        retryable: false)
                }
                events.append(
                    NewEvent(
                        id: Identifiers.uuidV7(now: now), entity: command.entity, type: e.type, payload: payload,
                        causationId: command.id, causationKind: .command, correlationId: command.correlationId,
                        traceparent: traceparent, schemaId: schemaId, time: now))
            }
            // Fold before committing, so events, result and snapshot land together. An aggregator failure
            // leaves the snapshot lagging; the next command on this entity catches it up (unless the
            // aggregate has unique fields: those are checked on the new state, so the attempt fails).
            let uniqueFields = validator.uniqueFields(aggregate: command.entity.aggregate)
            var snapshot: Snapshot?
            if let aggregator {
                let version = aggregate.version + Int64(events.count)
                do {
                    if fold, let folded = handled.state {
                        snapshot = Snapshot(entity: command.entity, version: version, state: try aggregates.validated(folded, by: aggregator, for: command.entity))
                    } else {
                        if fold { noteNoFold(handler) }
                        let envelopes = events.enumerated().map { i, e in e.envelope(sequence: aggregate.version + Int64(i) + 1, position: 0) }
                        var call = span?.child("aggregate \(aggregator.name)", kind: .client)
                        call?.set("evento.function", aggregator.name)
                        let state: RawJSON?
                        do {
                            state = try await aggregates.fold(aggregator, aggregate, envelopes)
                            call?.end()
                        } catch {
                            call?.fail("\(error)")
                            call?.end()
                            throw error
                        }
                        snapshot = Snapshot(entity: command.entity, version: version, state: state ?? .null)
                    }
                } catch {
                    if !uniqueFields.isEmpty { throw error }
                    logger.warning(
                        "aggregator failed; the snapshot lags until the next command",
                        metadata: ["evento.entity": "\(command.entity)", "error": "\(error)"])
                }
            }
            var uniqueValues: [UniqueValue] = []
            if !uniqueFields.isEmpty {
                guard let snapshot else {
                    return .failed("aggregate \(command.entity.aggregate) has unique fields, which need its aggregator's state; register an aggregator", retryable: true)
                }
                uniqueValues = snapshot.uniqueValues(uniqueFields)
            }
            var commit = span?.child("commit")
            commit?.set("evento.events", events.count)
            defer { commit?.end() }
            do {
                let result: CompletionResult
                do {
                    result = try await store.complete(
                        CommandCompletion(
                            command: command, isLogged: isLogged, attempts: attempt, events: events, expectedVersion: aggregate.version,
                            snapshot: snapshot, fence: fence, uniqueValues: uniqueValues))
                } catch {
                    commit?.fail("\(error)")
                    throw error
                }
                switch result {
                case .committed(let record, let stored):
                    if let snapshot { aggregates.remember(snapshot) } else { aggregates.forget(command.entity) }
                    return .succeeded(CommandOutcome(record: record, events: stored))
                case .alreadyFinal(let record):
                    return .succeeded(CommandOutcome(record: record, events: nil))
                }
            } catch let taken as UniqueConflict {
                return .taken(taken)
            } catch is FenceLost {
                aggregates.forget(command.entity)
                return .handedOver
            } catch let conflict as VersionConflict {
                EventoMetrics.commandConflicts.increment()
                lastConflict = conflict.description
                fresh = true
                continue
            } catch let taken as IdempotencyConflict {
                // The log holds another command under this id.
                if taken.kind == .command { return .refused(taken) }
                // Derived ids are keyed and cannot be computed outside: a stored one is never this command's result.
                return .failed("the id of its event \(taken.index) is already stored: \(taken)", retryable: false)
            }
        }
        return .conflicted("version conflict after \(configuration.maxConflictRetries + 1) tries: \(lastConflict)")
    }

    /// Whether a handler also folds: its aggregator is the same program (same transport), and it has not
    /// shown that it cannot (a reply to `"fold": true` without a state).
    func foldsInHandler(_ handler: FunctionDefinition, _ aggregator: FunctionDefinition) -> Bool {
        handler.transport == aggregator.transport && !state.withLock { $0.noFold.contains(handler.name) }
    }

    private func noteNoFold(_ handler: FunctionDefinition) {
        state.withLock { _ = $0.noFold.insert(handler.name) }
    }
}
