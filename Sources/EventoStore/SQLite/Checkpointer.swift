import CoreMetrics
import EventoCore
import Foundation
import Logging
import Synchronization

/// Moves committed WAL frames into the database file on a thread of its own, and keeps the WAL bounded.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses the threshold, so one unlucky group
/// commit also copies and fsyncs a thousand pages: a latency spike for every writer waiting on it. With
/// `wal_autocheckpoint=0` on the writer, this thread runs PASSIVE checkpoints (which never block the
/// writer or the readers) every `interval`, off the commit path.
///
/// A PASSIVE checkpoint alone never lets a busy WAL start over: SQLite rewinds the WAL only when a write
/// transaction begins with every frame already copied, and under steady writes new frames always land
/// while the checkpoint copies the old ones. The WAL then grew without end (2.3 GB after ten seconds of
/// `evento bench events`, beside a 157 MB database), and each commit wrote at the end of an ever larger
/// file. So when a checkpoint leaves more than `restartFrames` frames in the WAL, this thread asks the
/// writer (`WALRestart`) to copy the frames written since, itself, between two group commits: its next
/// transaction then begins with the WAL fully copied and rewinds it (truncated to `journal_size_limit`).
/// (Copying again in the background until little is left did not shorten the writer's pause, whose cost
/// is mostly the database file's fsync, and its back-to-back fsyncs slowed the commits'.)
final class Checkpointer: Sendable {
    private let threads: OwnedThreads<Never>

    init(path: String, interval: Duration = .milliseconds(250), restart: WALRestart, logger: Logger) throws {
        let connection = try CheckpointConnection(SQLiteConnection.open(path: path))
        threads = OwnedThreads(name: "evento-checkpoint", tick: interval) { _, _ in
            do {
                let s = try connection.connection.statement("PRAGMA wal_checkpoint(PASSIVE)")
                defer { s.reset() }
                // One row: busy, frames in the WAL, frames copied into the database.
                if try s.step() {
                    if s.int64(1) > restart.restartFrames { restart.request() }
                    if s.int64(1) >= 0 { EventoMetrics.walBytes.record(s.int64(1) * restart.pageSize) }
                }
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

/// The checkpointer's request that the writer let the WAL start over (see `Checkpointer`).
final class WALRestart: Sendable {
    /// Frames (pages) the WAL may hold after a background checkpoint before a restart is asked for.
    let restartFrames: Int64
    /// The database's page size (a frame holds one page).
    let pageSize: Int64
    private let requested = Atomic<Bool>(false)

    init(restartFrames: Int64, pageSize: Int64) {
        self.restartFrames = restartFrames
        self.pageSize = pageSize
    }

    func request() { requested.store(true, ordering: .relaxed) }

    /// Whether a restart was asked for since the last call (and clears it).
    func take() -> Bool { requested.exchange(false, ordering: .relaxed) }
}
