import CoreMetrics
import DequeModule
import EventoCore
import Foundation
import Logging
import Synchronization

/// A pool of long-lived workers for one function: started once at registration, never one process per call.
///
/// A call takes an idle worker (or waits for one, at most its timeout), exchanges one line, and gives the
/// worker back. A worker that dies or breaks the protocol is replaced and the call is retried once on
/// another worker; a worker that does not answer within the timeout is killed and replaced, and the call
/// fails as retryable (the pipeline retries it).
///
/// Replacing a worker can fail (the program is gone for a moment, no descriptors left): a respawn loop
/// then tries again after 100 ms, doubling up to 5 s, for as long as workers are missing, and the status
/// says so. A function whose workers keep dying right after they start backs off the same way. The loop
/// ends with the pool: `shutdown()` cancels it and waits for it.
final class ProcessPool: FunctionTransport, @unchecked Sendable {
    // @unchecked: all mutable state is in `state`.
    let function: String
    let command: [String]
    let workers: Int
    let environment: [String: String]
    let workingDirectory: String?
    let maxReplyBytes: Int
    let logger: Logger

    private struct Waiter {
        let ticket: UInt64
        let continuation: CheckedContinuation<Worker, any Error>
    }

    private struct State {
        var all: [Worker] = []
        var idle: [Worker] = []
        var waiters: Deque<Waiter> = []
        var nextTicket: UInt64 = 0
        var closed = false
        /// Consecutive workers that died soon after starting: slows down restarts of a crashing function.
        var quickDeaths = 0
        /// Consecutive spawns that failed.
        var spawnFailures = 0
        var lastSpawnError: String?
        var restarts = 0
        /// The respawn loop, while one runs.
        var respawner: Task<Void, Never>?

        /// The pause before the next respawn: none for the first, then 100 ms doubling up to 5 s.
        var respawnDelay: Duration {
            let n = spawnFailures + max(0, quickDeaths - 1)
            return n == 0 ? .zero : min(.seconds(5), .milliseconds(100) * (1 << min(n - 1, 6)))
        }
    }
    private let state = Mutex(State())
    private let restartCounter: Counter
    /// How long a stopping worker has after end-of-file on its stdin before it gets SIGTERM: time to finish
    /// what it is doing (flush, close files) and exit by itself.
    let stopGrace: Duration = .seconds(2)

    init(
        function: String, command: [String], workers: Int, environment: [String: String], workingDirectory: String?,
        maxReplyBytes: Int = FunctionRegistry.defaultMaxReplyBytes, logger: Logger
    ) {
        self.function = function
        self.command = command
        self.workers = workers
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.maxReplyBytes = maxReplyBytes
        self.logger = logger
        restartCounter = Counter(label: "evento_function_worker_restarts_total", dimensions: [("function", function)])
    }

    /// Starts the workers.
    /// - Parameter verify: check that every worker starts and stays up for half a second (a script with a
    ///   syntax error does not) and throw `EventoError` if not, stopping what was started. Without it
    ///   (stored registrations at server start) what cannot start now is respawned in the background.
    func start(verify: Bool = true) async throws {
        var started: [Worker] = []
        for _ in 0..<workers {
            do {
                let w = try spawn()
                started.append(w)
                state.withLock { s in
                    s.all.append(w)
                    s.idle.append(w)
                }
            } catch {
                if verify {
                    await shutdown()
                    throw error
                }
                spawnFailed(error)
            }
        }
        if !verify {
            startRespawning()
            return
        }
        // There is no health call in the function protocol: watch the workers for half a second instead.
        var dead: Worker?
        for _ in 0..<20 {
            try await Task.sleep(for: .milliseconds(25))
            dead = started.first(where: \.isFinished)  // finished: its stderr is read to the end
            if dead != nil { break }
        }
        if let dead {
            await shutdown()
            let tail = dead.stderrTail.suffix(5).joined(separator: " | ")
            throw EventoError(
                .invalidRequest,
                "the worker \(dead.exitDescription) right after starting" + (tail.isEmpty ? "" : "; its stderr: \(tail)"),
                field: "transport.process.command")
        }
    }

    /// Workers restarted since start.
    var restarts: Int { state.withLock { $0.restarts } }

    /// The pids of the live workers (tests use them to kill one).
    var pids: [Int32] { state.withLock { $0.all.filter(\.isAlive).map(\.pid) } }

    /// For `GET /functions/{name}`: the live worker pids, the restarts, and whether (and why) workers are
    /// missing and being respawned.
    var status: JSONValue {
        state.withLock { s in
            var o: JSONObject = [
                "workers": .array(s.all.filter(\.isAlive).map { .int(Int64($0.pid)) }),
                "restarts": .int(Int64(s.restarts)),
                "respawning": .bool(s.respawner != nil && !s.closed),
            ]
            if let error = s.lastSpawnError { o["lastSpawnError"] = .string(error) }
            return .object(o)
        }
    }

    private func spawn() throws -> Worker {
        try Worker(
            function: function, command: command, environment: environment, workingDirectory: workingDirectory,
            maxReplyBytes: maxReplyBytes, logger: logger
        ) { [weak self] worker in self?.exited(worker) }
    }

    func call(_ request: [UInt8], timeout: Duration) async throws -> [UInt8] {
        var last: FunctionCallError?
        for _ in 0..<2 {
            let worker = try await acquire(timeout: timeout)
            do {
                let reply = try await worker.exchange(request, timeout: timeout)
                release(worker)
                return reply
            } catch let failure as Worker.Failure {
                switch failure {
                case .timedOut:
                    throw FunctionCallError(
                        function: function, message: "no reply within \(timeout); the worker was replaced", retryable: true, reason: .timeout)
                case .replyTooLarge(let cap):
                    // The same call would most likely produce the same reply: not retried.
                    throw FunctionCallError(
                        function: function, message: "reply exceeds \(cap) bytes; the worker was replaced", retryable: false,
                        reason: .replyTooLarge)
                case .protocolViolation(let why):
                    last = FunctionCallError(
                        function: function, message: "protocol violation: \(why); the worker was replaced", retryable: true,
                        reason: .protocolViolation)
                case .died(let why):
                    last = FunctionCallError(function: function, message: why, retryable: true, reason: .failed)
                }
                continue  // the call is retried once on another worker
            }
        }
        throw last!
    }

    /// An idle worker, or the first one to come free within `timeout`.
    private func acquire(timeout: Duration) async throws -> Worker {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Worker, any Error>) in
            enum Decision {
                case worker(Worker)
                case closed
                case wait(UInt64)
            }
            // One critical section decides who resumes `c`: this call now, or whoever takes it from `waiters`.
            let decision = state.withLock { s -> Decision in
                if s.closed { return .closed }
                while let w = s.idle.popLast() {
                    if w.isUsable { return .worker(w) }
                }
                s.nextTicket += 1
                s.waiters.append(Waiter(ticket: s.nextTicket, continuation: c))
                return .wait(s.nextTicket)
            }
            switch decision {
            case .worker(let w):
                c.resume(returning: w)
            case .closed:
                c.resume(throwing: FunctionCallError(function: function, message: "the function is being removed", retryable: true, reason: .unavailable))
            case .wait(let ticket):
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeout / .milliseconds(1)))) { [weak self] in
                    self?.giveUp(ticket, after: timeout)
                }
            }
        }
    }

    /// A call waited `timeout` for a worker: it fails, unless a worker reached it first.
    private func giveUp(_ ticket: UInt64, after timeout: Duration) {
        let (waiter, why) = state.withLock { s -> (Waiter?, String?) in
            guard let i = s.waiters.firstIndex(where: { $0.ticket == ticket }) else { return (nil, nil) }
            return (s.waiters.remove(at: i), s.lastSpawnError)
        }
        guard let waiter else { return }
        let message = "no worker was free within \(timeout)" + (why.map { "; workers cannot be started: \($0)" } ?? "")
        waiter.continuation.resume(throwing: FunctionCallError(function: function, message: message, retryable: true, reason: .unavailable))
    }

    private func release(_ worker: Worker) {
        let waiter = state.withLock { s -> Waiter? in
            guard worker.isUsable, !s.closed else { return nil }
            if let w = s.waiters.popFirst() { return w }
            s.idle.append(worker)
            return nil
        }
        waiter?.continuation.resume(returning: worker)
    }

    /// A worker exited: have it replaced.
    private func exited(_ worker: Worker) {
        state.withLock { s in
            s.all.removeAll { $0 === worker }
            s.idle.removeAll { $0 === worker }
            if ContinuousClock.now - worker.startedAt < .seconds(2) { s.quickDeaths += 1 } else { s.quickDeaths = 0 }
        }
        startRespawning()
    }

    /// Starts the respawn loop unless it runs already (decided under the lock, so no exit goes unnoticed).
    private func startRespawning() {
        state.withLock { s in
            guard !s.closed, s.respawner == nil, s.all.count < workers else { return }
            s.respawner = Task { [weak self] in
                while let self, await self.respawnStep() {}
            }
        }
    }

    /// Waits for the backoff, then starts one worker. Returns false when the loop is done: the pool is
    /// full or closed, or the loop was cancelled.
    private func respawnStep() async -> Bool {
        let delay = state.withLock { s -> Duration? in
            if s.closed || s.all.count >= workers {
                s.respawner = nil
                return nil
            }
            return s.respawnDelay
        }
        guard let delay else { return false }
        if delay > .zero {
            do { try await Task.sleep(for: delay) } catch { return false }
        }
        if Task.isCancelled { return false }
        let worker: Worker
        do {
            worker = try spawn()
        } catch {
            spawnFailed(error)
            return true
        }
        let (waiter, closed) = state.withLock { s -> (Waiter?, Bool) in
            if s.closed { return (nil, true) }
            s.all.append(worker)
            s.restarts += 1
            s.spawnFailures = 0
            s.lastSpawnError = nil
            if let w = s.waiters.popFirst() { return (w, false) }
            s.idle.append(worker)
            return (nil, false)
        }
        if closed {
            // Started while the pool shut down: stop it here (shutdown() awaits this loop, so it waits for this too).
            worker.kill()
            await Self.waitUntilFinished([worker], for: .seconds(2))
            return false
        }
        restartCounter.increment()
        logger.info("function worker replaced", metadata: ["evento.function": "\(function)", "pid": "\(worker.pid)"])
        waiter?.continuation.resume(returning: worker)
        return true
    }

    private func spawnFailed(_ error: any Error) {
        let message = (error as? EventoError)?.message ?? "\(error)"
        let (failures, delay) = state.withLock { s -> (Int, Duration) in
            s.spawnFailures += 1
            s.lastSpawnError = message
            return (s.spawnFailures, s.respawnDelay)
        }
        logger.error(
            "cannot start a function worker (\(failures) tries in a row; next in \(delay)): \(message)",
            metadata: ["evento.function": "\(function)"])
    }

    func shutdown(callGrace: Duration?) async {
        let (workers, waiters, respawner) = state.withLock { s -> ([Worker], [Waiter], Task<Void, Never>?) in
            s.closed = true
            let waiters = Array(s.waiters)
            s.waiters.removeAll()
            s.idle.removeAll()
            let respawner = s.respawner
            s.respawner = nil
            return (s.all, waiters, respawner)
        }
        for w in waiters {
            w.continuation.resume(throwing: FunctionCallError(function: function, message: "the function was removed", retryable: true, reason: .unavailable))
        }
        respawner?.cancel()
        await respawner?.value
        // End-of-file first (a worker finishes its call and exits), then SIGTERM, then SIGKILL.
        for w in workers { w.closeInput() }
        let grace = callGrace ?? stopGrace
        await Self.waitUntilFinished(workers, for: grace)
        for w in workers where !w.isFinished {
            logger.warning(
                "function worker did not exit within \(grace) of end-of-file on its stdin; sending SIGTERM",
                metadata: ["evento.function": "\(function)", "pid": "\(w.pid)"])
            w.terminate()
        }
        await Self.waitUntilFinished(workers, for: .milliseconds(500))
        for w in workers where !w.isFinished { w.kill() }
        await Self.waitUntilFinished(workers, for: .seconds(2))
    }

    private static func waitUntilFinished(_ workers: [Worker], for limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while workers.contains(where: { !$0.isFinished }) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}
