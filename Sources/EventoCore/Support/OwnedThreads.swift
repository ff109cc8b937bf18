import DequeModule
import Foundation

/// Threads of Evento's own that take jobs from one queue: the one place that owns a queue, its condition,
/// the stop flag and the join. Blocking C calls (sqlite3_step, librdkafka's poll) run on such threads,
/// never on Swift's cooperative pool. Used by the SQLite writer (one thread, jobs in batches), the reader
/// pool (N threads, a connection each), the WAL checkpointer (a tick, no jobs) and `DedicatedThread`.
public final class OwnedThreads<Job>: @unchecked Sendable {
    // @unchecked: `queue`, `stopping` and `running` are only touched under `condition`; `body` runs on the
    // owned threads.
    private let condition = NSCondition()
    private var queue = Deque<Job>()
    private var stopping = false
    private var running = 0
    private let maxBatch: Int
    private let tick: TimeInterval?
    private let body: (_ thread: Int, _ jobs: [Job]) -> Void

    /// Starts `threads` threads named `name-N` (or `name` for one).
    /// - Parameters:
    ///   - maxBatch: most jobs a thread takes at once (a writer folds them into one transaction).
    ///   - tick: when set, `body` also runs with no jobs after this long without any (periodic work).
    ///   - body: runs on an owned thread with the jobs it took, in queue order.
    public init(
        name: String, threads: Int = 1, maxBatch: Int = 1, tick: Duration? = nil,
        body: @escaping (_ thread: Int, _ jobs: [Job]) -> Void
    ) {
        self.maxBatch = max(1, maxBatch)
        self.tick = tick.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
        self.body = body
        let count = max(1, threads)
        running = count
        for i in 0..<count {
            let thread = Thread { [self] in self.loop(i) }
            thread.name = count == 1 ? name : "\(name)-\(i)"
            thread.start()
        }
    }

    /// Queues a job; false (and the job is not run) once stopping.
    @discardableResult
    public func submit(_ job: Job) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { return false }
        queue.append(job)
        condition.signal()
        return true
    }

    /// Jobs waiting for a thread.
    public var queued: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }

    /// Runs the jobs queued so far, then ends the threads.
    /// - Parameter wait: wait until they have ended (never from one of them: that would wait forever).
    public func stop(wait: Bool = true) {
        condition.lock()
        stopping = true
        condition.broadcast()
        while wait && running > 0 { condition.wait() }
        condition.unlock()
    }

    private func loop(_ index: Int) {
        condition.lock()
        while true {
            if queue.isEmpty && !stopping {
                if let tick {
                    if !condition.wait(until: Date(timeIntervalSinceNow: tick)) && queue.isEmpty && !stopping {
                        condition.unlock()
                        body(index, [])
                        condition.lock()
                    }
                    continue
                }
                condition.wait()
                continue
            }
            if queue.isEmpty {  // stopping, and nothing left
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let n = min(queue.count, maxBatch)
            var jobs: [Job] = []
            jobs.reserveCapacity(n)
            for _ in 0..<n { jobs.append(queue.removeFirst()) }
            condition.unlock()
            body(index, jobs)
            condition.lock()
        }
    }
}
