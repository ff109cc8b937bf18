import DequeModule
import Foundation

/// One thread that runs blocking work (a C library call that waits) handed to it from async code, in order,
/// so that the wait never holds one of Swift's cooperative threads.
public final class DedicatedThread: @unchecked Sendable {
    // @unchecked: `jobs` and `stopped` are guarded by `condition`.
    private let condition = NSCondition()
    private var jobs = Deque<() -> Void>()
    private var stopped = false

    public init(name: String) {
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on the thread and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            condition.lock()
            if stopped {
                condition.unlock()
                c.resume(throwing: CancellationError())
                return
            }
            jobs.append { c.resume(with: Result { try body() }) }
            condition.signal()
            condition.unlock()
        }
    }

    /// Finishes the queued work, then ends the thread.
    public func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
