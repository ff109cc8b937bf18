import EventoCore

/// A fixed set of reader threads, each owning one read-only SQLite connection.
///
/// WAL mode lets these read while the writer commits; running them on their own threads keeps blocking
/// `sqlite3_step` calls off Swift's cooperative pool.
final class ReaderPool: Sendable {
    private let threads: OwnedThreads<@Sendable (SQLiteConnection) -> Void>

    init(connections: [SQLiteConnection]) {
        let connections = SendableConnections(connections)
        threads = OwnedThreads(name: "evento-sqlite-reader", threads: connections.all.count) { index, jobs in
            for job in jobs { job(connections.all[index]) }
        }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let queued = threads.submit { connection in continuation.resume(with: Result { try body(connection) }) }
            if !queued { continuation.resume(throwing: EventoError(.unavailable, "the store is shutting down")) }
        }
    }

    func shutdown() { threads.stop() }
}

/// The readers' connections. @unchecked Sendable: each connection is used by one reader thread only (the
/// thread whose index it has).
private struct SendableConnections: @unchecked Sendable {
    let all: [SQLiteConnection]
    init(_ all: [SQLiteConnection]) { self.all = all }
}
