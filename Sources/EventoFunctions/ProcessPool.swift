import CoreMetrics
import DequeModule
import EventoCore
import Foundation
import Logging
import Synchronization

/// A pool of long-lived workers for one function: started once at registration, never one process per call.
///
/// A call takes an idle worker (or waits for one), exchanges one line, and gives the worker back. A worker
/// that dies is replaced and the call is retried once on another worker; a worker that does not answer
/// within the timeout is killed and replaced, and the call fails as retryable (the pipeline retries it).
final class ProcessPool: FunctionTransport, @unchecked Sendable {
    // @unchecked: all mutable state is in `state`.
    let function: String
    let command: [String]
    let workers: Int
    let environment: [String: String]
    let workingDirectory: String?
    let logger: Logger

    private struct State {
        var all: [Worker] = []
        var idle: [Worker] = []
        var waiters: Deque<CheckedContinuation<Worker, any Error>> = []
        var closed = false
        /// Consecutive workers that died soon after starting: slows down restarts of a crashing function.
        var quickDeaths = 0
        var restarts = 0
    }
    private let state = Mutex(State())

    init(function: String, command: [String], workers: Int, environment: [String: String], workingDirectory: String?, logger: Logger) {
        self.function = function
        self.command = command
        self.workers = workers
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.logger = logger
    }

    /// Starts the workers and checks that they stay up for a moment (a script with a syntax error does not).
    func start() async throws {
        var started: [Worker] = []
        for _ in 0..<workers {
            let w = try spawn()
            started.append(w)
            state.withLock { s in
                s.all.append(w)
                s.idle.append(w)
            }
        }
        // There is no health call in the function protocol: watch the workers for half a second instead.
        var dead: Worker?
        for _ in 0..<20 {
            try await Task.sleep(for: .milliseconds(25))
            dead = started.first { !$0.isAlive }
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

    private func spawn() throws -> Worker {
        try Worker(
            function: function, command: command, environment: environment, workingDirectory: workingDirectory, logger: logger
        ) { [weak self] worker in self?.exited(worker) }
    }

    func call(_ request: [UInt8], timeout: Duration) async throws -> [UInt8] {
        var lastError = ""
        for _ in 0..<2 {
            let worker = try await acquire()
            do {
                // The deadline runs on a timer, not as a child task: it holds even when the caller is cancelled.
                let call = worker.nextCall()
                let timer = DispatchWorkItem { worker.expire(call: call) }
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeout / .milliseconds(1))), execute: timer)
                defer { timer.cancel() }
                let reply = try await worker.exchange(request)
                release(worker)
                return reply
            } catch Worker.Failure.timedOut {
                throw FunctionCallError(function: function, message: "no reply within \(timeout); the worker was replaced", retryable: true)
            } catch Worker.Failure.died(let why) {
                lastError = why
                continue  // the call is retried once on another worker
            }
        }
        throw FunctionCallError(function: function, message: lastError, retryable: true)
    }

    private func acquire() async throws -> Worker {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Worker, any Error>) in
            let worker = state.withLock { s -> Worker? in
                if s.closed { return nil }
                while let w = s.idle.popLast() {
                    if w.isAlive { return w }
                }
                s.waiters.append(c)
                return nil
            }
            if let worker {
                c.resume(returning: worker)
            } else if state.withLock({ $0.closed }) {
                c.resume(throwing: FunctionCallError(function: function, message: "the function is being removed", retryable: true))
            }
        }
    }

    private func release(_ worker: Worker) {
        let waiter = state.withLock { s -> CheckedContinuation<Worker, any Error>? in
            guard worker.isAlive else { return nil }
            if let w = s.waiters.popFirst() { return w }
            s.idle.append(worker)
            return nil
        }
        waiter?.resume(returning: worker)
    }

    /// A worker exited: replace it (after a pause if the function keeps crashing at start).
    private func exited(_ worker: Worker) {
        let (closed, quickDeaths) = state.withLock { s -> (Bool, Int) in
            s.all.removeAll { $0 === worker }
            s.idle.removeAll { $0 === worker }
            if ContinuousClock.now - worker.startedAt < .seconds(2) { s.quickDeaths += 1 } else { s.quickDeaths = 0 }
            return (s.closed, s.quickDeaths)
        }
        guard !closed else { return }
        let delay = quickDeaths > 1 ? min(5.0, 0.1 * Double(1 << min(quickDeaths, 6))) : 0
        Thread.detachNewThread { [self] in
            if delay > 0 { Thread.sleep(forTimeInterval: delay) }
            replace()
        }
    }

    private func replace() {
        guard !state.withLock({ $0.closed }) else { return }
        do {
            let w = try spawn()
            Counter(label: "evento_function_worker_restarts_total", dimensions: [("function", function)]).increment()
            let waiter = state.withLock { s -> CheckedContinuation<Worker, any Error>? in
                s.all.append(w)
                s.restarts += 1
                if let c = s.waiters.popFirst() { return c }
                s.idle.append(w)
                return nil
            }
            waiter?.resume(returning: w)
            logger.info("function worker replaced", metadata: ["evento.function": "\(function)", "pid": "\(w.pid)"])
        } catch {
            logger.error("cannot restart a function worker: \(error)", metadata: ["evento.function": "\(function)"])
        }
    }

    func shutdown() async {
        let (workers, waiters) = state.withLock { s -> ([Worker], [CheckedContinuation<Worker, any Error>]) in
            s.closed = true
            let w = Array(s.waiters)
            s.waiters.removeAll()
            return (s.all, w)
        }
        for c in waiters { c.resume(throwing: FunctionCallError(function: function, message: "the function was removed", retryable: true)) }
        for w in workers { w.terminate() }
        // Give them a moment to exit on SIGTERM, then make sure.
        for _ in 0..<20 where workers.contains(where: \.isAlive) { try? await Task.sleep(for: .milliseconds(50)) }
        for w in workers where w.isAlive { w.kill() }
    }
}
