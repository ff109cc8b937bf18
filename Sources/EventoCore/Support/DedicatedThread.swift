/// One thread that runs blocking work (a C library call that waits) handed to it from async code, in order,
/// so that the wait never holds one of Swift's cooperative threads.
public final class DedicatedThread: Sendable {
    private let threads: OwnedThreads<() -> Void>

    public init(name: String) {
        threads = OwnedThreads(name: name) { _, jobs in for job in jobs { job() } }
    }

    /// Runs `body` on the thread and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            if !threads.submit({ c.resume(with: Result { try body() }) }) {
                c.resume(throwing: EventoError(.unavailable, "the thread has stopped"))
            }
        }
    }

    /// Finishes the queued work, then ends the thread.
    public func stop() { threads.stop() }
}
