import EventoCore
import Foundation
import Logging

/// Moves committed WAL frames into the database file on a thread of its own.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses the threshold, so one unlucky group
/// commit also copies and fsyncs a thousand pages: a latency spike for every writer waiting on it. With
/// `wal_autocheckpoint=0` on the writer, this thread runs PASSIVE checkpoints (which never block the
/// writer or the readers) every `interval`, off the commit path.
final class Checkpointer: Sendable {
    private let threads: OwnedThreads<Never>

    init(path: String, interval: Duration = .milliseconds(250), logger: Logger) throws {
        let connection = try CheckpointConnection(SQLiteConnection.open(path: path))
        threads = OwnedThreads(name: "evento-checkpoint", tick: interval) { _, _ in
            do {
                try connection.connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            } catch {
                logger.warning("WAL checkpoint failed: \(error)")
            }
        }
    }

    /// Stops the thread (after its checkpoint in progress, if any).
    func shutdown() { threads.stop() }
}

/// @unchecked Sendable: used by the checkpointer's thread alone.
private struct CheckpointConnection: @unchecked Sendable {
    let connection: SQLiteConnection
    init(_ connection: SQLiteConnection) { self.connection = connection }
}
