import DequeModule
import Foundation

/// A fixed set of reader threads, each owning one read-only SQLite connection.
///
/// WAL mode lets these read while the writer commits; running them on their own threads keeps blocking
/// `sqlite3_step` calls off Swift's cooperative pool.
final class ReaderPool: @unchecked Sendable {
    // @unchecked: `jobs` and `stopped` are only touched under `condition`; each connection only on its thread.
    private let condition = NSCondition()
    private var jobs = Deque<(SQLiteConnection) -> Void>()
    private var stopped = false
    private var running = 0

    init(connections: [SQLiteConnection]) {
        running = connections.count
        for (i, connection) in connections.enumerated() {
            let thread = Thread { [self] in self.loop(connection) }
            thread.name = "evento-sqlite-reader-\(i)"
            thread.start()
        }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job: (SQLiteConnection) -> Void = { connection in
                continuation.resume(with: Result { try body(connection) })
            }
            condition.lock()
            if stopped {
                condition.unlock()
                continuation.resume(throwing: CancellationError())
                return
            }
            jobs.append(job)
            condition.signal()
            condition.unlock()
        }
    }

    func shutdown() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    private func loop(_ connection: SQLiteConnection) {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            if jobs.isEmpty && stopped {
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job(connection)
        }
    }
}
