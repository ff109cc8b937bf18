import EventoCore
import Foundation
import Logging

/// Moves committed WAL frames into the database file on a thread of its own.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses the threshold, so one unlucky group
/// commit also copies and fsyncs a thousand pages: a latency spike for every writer waiting on it. With
/// `wal_autocheckpoint=0` on the writer, this thread runs PASSIVE checkpoints (which never block the
/// writer or the readers) every `interval`, off the commit path.
final class Checkpointer: @unchecked Sendable {
    // @unchecked: `stopped` is guarded by `condition`; the connection is used by the thread alone.
    private let connection: SQLiteConnection
    private let interval: TimeInterval
    private let condition = NSCondition()
    private var stopped = false
    private var finished = false
    private let logger: Logger

    init(path: String, interval: TimeInterval = 0.25, logger: Logger) throws {
        connection = try SQLiteConnection.open(path: path)
        self.interval = interval
        self.logger = logger
    }

    func start() {
        let thread = Thread { [self] in
            condition.lock()
            while !stopped {
                _ = condition.wait(until: Date(timeIntervalSinceNow: interval))
                if stopped { break }
                condition.unlock()
                do {
                    try connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                } catch {
                    logger.warning("WAL checkpoint failed: \(error)")
                }
                condition.lock()
            }
            finished = true
            condition.broadcast()
            condition.unlock()
        }
        thread.name = "evento-checkpoint"
        thread.start()
    }

    /// Stops the thread (after its checkpoint in progress, if any).
    func shutdown() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }
}
