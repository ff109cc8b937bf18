import CoreMetrics
import Logging
import Synchronization

/// Feeds committed events to projectors and applies the view operations they answer.
///
/// Each projector follows the log on its own cursor (kept with its views, see `ViewStore`), so one that is
/// slow, failing or parked holds back nobody else. A step reads a page after the cursor, sends the
/// projector's matching events in one call (at most `batchSize`, in position order), and commits the
/// operations it answered together with the new cursor in one transaction: a step redone after a crash
/// or a lost reply finds the cursor moved and writes nothing twice. A failing call is retried with backoff
/// up to the projector's `maxAttempts`; then the projector is parked on that batch (its status and error
/// visible) until someone retries it. A rebuild writes the next generation from position 0 while reads
/// serve the current one, and swaps when it has caught up with the log.
public final class ProjectorRunner: Sendable {
    public typealias Store = EventLog & ViewStore

    let store: any Store
    let functions: any FunctionDirectory
    let validator: any SchemaValidator
    let commits: CommitSignal
    let logger: Logger
    /// Events read per step.
    let pageSize = 2048
    /// Most events sent in one call.
    public let batchSize: Int
    /// First retry delay of a failed call; doubles per attempt up to 10 s.
    let baseBackoff: Duration
    /// The loop of each projector, with whether it was asked to wake (a retry, a rebuild).
    private let loops = FollowerLoops<Bool>(kind: "projector")

    public init(
        store: any Store, functions: any FunctionDirectory, validator: any SchemaValidator = AcceptAllValidator(), batchSize: Int = 1000,
        baseBackoff: Duration = .milliseconds(100), logger: Logger
    ) {
        self.store = store
        self.functions = functions
        self.validator = validator
        self.commits = store.commits
        self.batchSize = batchSize
        self.baseBackoff = baseBackoff
        self.logger = logger
    }

    /// Runs one loop per registered projector until cancelled, starting loops for projectors registered
    /// later (a loop ends by itself when its projector is removed).
    public func run() async throws {
        try await loops.run(
            commits: commits, logger: logger, functions: { [functions] in functions.projectors() }, initial: { _ in false },
            follow: { try await self.follow($0) })
    }

    /// Wakes a projector's loop now (after a retry or a rebuild was asked for).
    public func wake(_ name: String) {
        loops.values.withLock { r in if r[name] != nil { r[name] = true } }
    }

    /// The loop of one projector.
    func follow(_ name: String) async throws {
        let lag = Gauge(label: "evento_projector_lag_events", dimensions: [("projector", name)])
        var failures = 0
        while !Task.isCancelled {
            guard let projector = functions.function(named: name), projector.kind == .projector else { break }
            let state = try await store.projectorState(name) ?? ProjectorState(name: name)
            let (generation, cursor) = state.track
            lag.record(max(0, commits.head - cursor))
            if state.status == .parked {
                // Until a retry (or a rebuild) wakes it; a look now and then in case another instance was asked.
                await sleep(.seconds(1), name)
                continue
            }
            let head = await commits.wait(after: cursor, timeout: .seconds(1))
            if Task.isCancelled { break }
            guard head > cursor else {
                if state.rebuildCursor != nil {
                    do {
                        try await store.finishRebuild(name, at: cursor)
                    } catch is ProjectionConflict {
                        continue  // restarted (or moved on) meanwhile: read the state again
                    }
                    logger.info("projector rebuilt; its views swapped", metadata: ["evento.function": "\(name)", "generation": "\(generation)"])
                }
                continue
            }
            let page = try await store.events(afterPosition: cursor, limit: pageSize)
            guard let last = page.last else { continue }
            var batch: [EventEnvelope] = []
            var to = last.position
            for e in page where projector.receives(e) {
                if batch.count == batchSize {
                    to = batch[batch.count - 1].position
                    break
                }
                batch.append(e)
            }
            var operations: [ViewOperation] = []
            if !batch.isEmpty {
                do {
                    let reply = try await functions.invoke(projector, request: FunctionProtocol.projectRequest(events: batch))
                    operations = try FunctionProtocol.parseOperations(reply, function: projector.name)
                } catch let e as FunctionCallError {
                    failures += 1
                    if !e.retryable || failures >= projector.maxAttempts {
                        try await park(name, at: state.track, failures: failures, error: "at position \(batch[0].position) (event \(batch[0].id)): \(e.description)")
                        failures = 0
                    } else {
                        try await store.setProjectorStatus(name, status: state.status, lastError: e.description, at: state.track)
                        let exponent = min(failures - 1, 7)
                        await sleep(min(baseBackoff * (1 << exponent), .seconds(10)), name)
                    }
                    continue
                }
            }
            do {
                let validator = self.validator
                try await store.commitProjection(
                    ProjectionCommit(projector: name, generation: generation, from: cursor, to: to, operations: operations) { view, doc in
                        try validator.validateView(view, doc: doc, field: "view \(view): doc")
                    })
                failures = 0
                EventoMetrics.projectedEvents.increment(by: batch.count)
            } catch is ProjectionConflict {
                continue  // moved meanwhile (a rebuild began, or another instance ran it): read the state again
            } catch let e as EventoError where e.code == .conflict || e.code == .validation {
                try await park(name, at: state.track, failures: 1, error: "at position \(batch.first?.position ?? to): \(e.message)")
            }
        }
    }

    /// Parks the projector where the failed batch was read (`track`); moved on meanwhile (a rebuild began),
    /// it is not parked: the loop reads its state again.
    private func park(_ name: String, at track: (generation: Int64, cursor: Int64), failures: Int, error: String) async throws {
        guard try await store.setProjectorStatus(name, status: .parked, lastError: error, at: track) else { return }
        logger.warning("projector parked", metadata: ["evento.function": "\(name)", "attempts": "\(failures)", "error": "\(error)"])
        EventoMetrics.projectorsParked.increment()
    }

    /// Sleeps for `duration`, or until `wake(name)`, whichever comes first.
    private func sleep(_ duration: Duration, _ name: String) async {
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline, !Task.isCancelled {
            let woken = loops.values.withLock { r in
                guard r[name] == true else { return false }
                r[name] = false
                return true
            }
            if woken { return }
            try? await Task.sleep(for: min(.milliseconds(50), deadline - ContinuousClock.now))
        }
    }
}
