import CoreMetrics
import DequeModule
import EventoCore
import Foundation
import Synchronization

/// Runs every write of the store on one dedicated thread, many writes per transaction.
///
/// Writes queue up while the previous transaction commits; the writer then takes all of them (up to
/// `maxBatch`) into one `BEGIN IMMEDIATE … COMMIT`, so concurrent appends share one fsync. Each write runs
/// inside its own savepoint: a write that throws (a version conflict, say) is rolled back alone and the
/// others still commit. A write's caller is resumed only after the commit is durable.
final class GroupCommitWriter: @unchecked Sendable {
    // @unchecked: the connection and the caches are only touched on the writer thread (`threads` owns it).
    private var threads: OwnedThreads<PendingWrite>!
    private let connection: SQLiteConnection
    private let onCommit: @Sendable (_ headPosition: Int64?, _ versions: [String: Int64]) -> Void
    /// Entity versions known to the writer (it is the only writer, so they stay true). Bounded.
    private let versionCache = VersionCache()
    private let versionCacheLimit = 200_000
    private let counters = Mutex(WriterStatistics())
    private let walRestart: WALRestart?

    /// Transactions committed and writes they carried, since start.
    var statistics: WriterStatistics { counters.withLock { $0 } }

    /// Starts the writer thread.
    /// - Parameter onCommit: runs on the writer thread after each commit, before its writers are resumed,
    ///   with the new head position (nil when no event was written) and the entity versions it set.
    init(
        connection: SQLiteConnection, maxBatch: Int, walRestart: WALRestart? = nil,
        onCommit: @escaping @Sendable (_ headPosition: Int64?, _ versions: [String: Int64]) -> Void
    ) {
        self.connection = connection
        self.walRestart = walRestart
        self.onCommit = onCommit
        threads = OwnedThreads(name: "evento-sqlite-writer", maxBatch: maxBatch) { [unowned self] _, batch in self.run(batch) }
    }

    /// Stops after the queued writes are done.
    func shutdown() { threads.stop() }

    /// Runs `body` in the next group transaction; returns once that transaction has committed.
    func perform<T: Sendable>(_ body: @escaping @Sendable (WriteTransaction) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let op = PendingWrite(body: body, continuation: continuation)
            if !threads.submit(op) {
                continuation.resume(throwing: EventoError(.unavailable, "the store is shutting down"))
            }
        }
    }

    /// Runs a transaction-control statement, prepared once (sqlite3_exec would parse it every time: six
    /// times per group commit and twice per write).
    private func control(_ sql: String) throws {
        let s = try connection.statement(sql)
        defer { s.reset() }
        _ = try s.step()
    }

    /// A full disk (or one that fails writes) is the operator's to fix and the client's to retry, not a
    /// bug: it is said as such (503 with Retry-After), once, at this boundary. Nothing of the write is kept.
    static func clientFacing(_ error: any Error) -> any Error {
        guard let e = error as? SQLiteError else { return error }
        let message: String
        switch e.code {
        case 13: message = "the disk of the data directory is full: nothing was written; free space and try again"  // SQLITE_FULL
        case 10: message = "the data directory cannot be written (I/O error): nothing was written; check the disk and try again"  // SQLITE_IOERR
        default: return error
        }
        var unavailable = EventoError(.unavailable, message)
        unavailable.retryAfterSeconds = 5
        return unavailable
    }

    private func run(_ batch: [PendingWrite]) {
        let started = ContinuousClock.now
        defer {
            EventoMetrics.appendGroupSize.record(batch.count)
            EventoMetrics.appendCommitDuration.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
        }
        let tx = WriteTransaction(connection: connection, versionCache: versionCache)
        do {
            try control("BEGIN IMMEDIATE")
        } catch {
            for op in batch { op.fail(Self.clientFacing(error)) }
            return
        }
        for op in batch {
            do {
                try control("SAVEPOINT w")
                tx.beginOperation()
                try op.execute(tx)
                try control("RELEASE w")
                tx.keepOperation()
            } catch {
                tx.discardOperation()
                if connection.isAutocommit {
                    // SQLite rolled the whole transaction back (a full disk, an I/O error): the writes before
                    // this one are gone too, and a savepoint now would run outside any transaction. Every
                    // write of the group fails, nothing of it is kept.
                    let failure = Self.clientFacing(error)
                    for op in batch { op.fail(failure) }
                    return
                }
                try? control("ROLLBACK TO w")
                try? control("RELEASE w")
                op.error = Self.clientFacing(error)
            }
        }
        do {
            try control("COMMIT")
        } catch {
            try? control("ROLLBACK")
            for op in batch { op.fail(Self.clientFacing(error)) }
            return
        }
        // In place: the transaction shares the cache object, not a copy of its dictionary (a copy here
        // would duplicate up to versionCacheLimit entries per transaction).
        if versionCache.versions.count + tx.committedVersions.count > versionCacheLimit {
            versionCache.versions.removeAll(keepingCapacity: true)
        }
        versionCache.versions.merge(tx.committedVersions) { _, new in new }
        counters.withLock {
            $0.transactions += 1
            $0.writes += batch.count
            $0.largestGroup = max($0.largestGroup, batch.count)
        }
        if tx.headPosition != nil || !tx.committedVersions.isEmpty { onCommit(tx.headPosition, tx.committedVersions) }
        for op in batch { op.finish() }
        // The WAL is long and the checkpointer cannot catch up while commits keep coming: copy what it has
        // not copied yet (the frames since its last checkpoint) here, with no write in between, so that the
        // next transaction begins with the WAL fully copied and SQLite rewinds it. After the writers above
        // were answered; those queued meanwhile join the next, larger group.
        if walRestart?.take() == true {
            let s = ContinuousClock.now
            // One row: busy, frames in the WAL, frames copied. Busy (the checkpointer is copying) or stopped
            // short by a reader: not all copied, so no restart; asked again after the next checkpoint.
            if let pass = try? connection.statement("PRAGMA wal_checkpoint(PASSIVE)") {
                if (try? pass.step()) == true, pass.int64(0) == 0, pass.int64(1) == pass.int64(2) {
                    EventoMetrics.walRestarts.increment()
                }
                pass.reset()
            }
            EventoMetrics.walRestartDuration.recordNanoseconds((ContinuousClock.now - s).nanoseconds)
        }
    }
}

/// What the writer has done since start.
public struct WriterStatistics: Sendable, Hashable {
    /// Committed transactions (each one fsync with durable commits).
    public var transactions = 0
    /// Writes (appends and other operations) in those transactions.
    public var writes = 0
    /// Most writes one transaction carried.
    public var largestGroup = 0
}

/// Entity versions the writer knows, shared by reference with each transaction. Writer thread only.
final class VersionCache {
    var versions: [String: Int64] = [:]
}

/// The writer's view of the open transaction, handed to each write.
final class WriteTransaction {
    let connection: SQLiteConnection
    private let versionCache: VersionCache
    /// Versions set by writes kept so far in this transaction.
    private(set) var committedVersions: [String: Int64] = [:]
    /// Versions set by the write in progress.
    private var operationVersions: [String: Int64] = [:]
    /// The highest event position written in this transaction.
    private(set) var headPosition: Int64?
    private var operationHead: Int64?
    let now = Timestamp.now()

    init(connection: SQLiteConnection, versionCache: VersionCache) {
        self.connection = connection
        self.versionCache = versionCache
    }

    func beginOperation() {
        operationVersions.removeAll(keepingCapacity: true)
        operationHead = nil
    }

    func keepOperation() {
        committedVersions.merge(operationVersions) { _, new in new }
        if let operationHead { headPosition = max(headPosition ?? 0, operationHead) }
    }

    func discardOperation() {
        operationVersions.removeAll(keepingCapacity: true)
        operationHead = nil
    }

    /// The entity's version as this transaction sees it.
    func version(of entity: String) throws -> Int64 {
        if let v = operationVersions[entity] ?? committedVersions[entity] ?? versionCache.versions[entity] { return v }
        let s = try connection.statement("SELECT sequence FROM events WHERE entity = ?1 ORDER BY sequence DESC LIMIT 1")
        try s.bind(1, entity)
        let v = try s.step() ? s.int64(0) : 0
        s.reset()
        return v
    }

    func setVersion(_ version: Int64, of entity: String) {
        operationVersions[entity] = version
    }

    func wroteEvent(at position: Int64) {
        operationHead = max(operationHead ?? 0, position)
    }
}

/// One queued write. @unchecked Sendable: created by the caller, then touched only by the writer thread.
private final class PendingWrite: @unchecked Sendable {
    private let body: (WriteTransaction) throws -> Void
    private let resume: (Result<Void, any Error>) -> Void
    var error: (any Error)?

    init<T: Sendable>(body: @escaping @Sendable (WriteTransaction) throws -> T, continuation: CheckedContinuation<T, any Error>) {
        let box = ResultBox<T>()
        self.body = { tx in box.value = try body(tx) }
        self.resume = { result in
            switch result {
            case .success: continuation.resume(returning: box.value!)
            case .failure(let e): continuation.resume(throwing: e)
            }
        }
    }

    func execute(_ tx: WriteTransaction) throws { try body(tx) }

    func fail(_ error: any Error) { resume(.failure(error)) }

    func finish() {
        if let error { resume(.failure(error)) } else { resume(.success(())) }
    }
}

/// Holds a write's result between running it and committing. Touched only by the writer thread.
private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}
