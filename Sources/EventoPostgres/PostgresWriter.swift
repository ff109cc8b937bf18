import DequeModule
import CoreMetrics
import EventoCore
import Logging
import PostgresNIO
import Synchronization

/// One transaction of the writer: its connection, the feed head it locked, the entity versions it read
/// or wrote, and what it will announce when it commits. Used by one job at a time, on the writer's task.
final class PostgresTransaction: @unchecked Sendable {
    let connection: PostgresConnection
    let logger: Logger
    let now: Timestamp
    let partitionCount: Int
    /// The last position handed out (the feed row is locked: no one else hands out positions meanwhile).
    var head: Int64
    let startHead: Int64
    /// Entity versions as of this transaction (events of other writers cannot land meanwhile: they
    /// would need the feed row).
    var versions: [String: Int64] = [:]
    /// Partitions that got new pending commands (announced to their owners).
    var commandPartitions: Set<Int> = []
    /// Commands that reached a final status (announced to whoever waits for them).
    var finished: [String] = []
    /// The feed head and the notifications are written already (by the group's last statement).
    var finalized = false

    init(connection: PostgresConnection, head: Int64, now: Timestamp, partitionCount: Int, logger: Logger) {
        self.connection = connection
        self.head = head
        self.startHead = head
        self.now = now
        self.partitionCount = partitionCount
        self.logger = logger
    }

    @discardableResult
    func query(_ q: PostgresQuery) async throws -> [PostgresRow] {
        try await connection.query(q, logger: logger).collect()
    }

    /// What a job may change, to undo when it fails.
    struct Mark {
        var head: Int64
        var versions: [String: Int64]
        var commandPartitions: Set<Int>
        var finished: Int
    }

    func mark() -> Mark { Mark(head: head, versions: versions, commandPartitions: commandPartitions, finished: finished.count) }

    func restore(_ m: Mark) {
        head = m.head
        versions = m.versions
        commandPartitions = m.commandPartitions
        finished.removeLast(finished.count - m.finished)
    }

    func partition(of entity: EntityId) -> Int { Partitioning.partition(of: entity.rawValue, count: partitionCount) }
}

/// The single writer of one instance: jobs queued by any task are committed in groups, one transaction
/// (and one fsync) per group on one connection. Each job runs under a savepoint, so one that fails (a
/// version conflict) is undone alone and the others commit.
final class PostgresWriter: Sendable {
    struct Job: Sendable {
        enum Work: Sendable {
            /// Any write, run under its own savepoint.
            case custom(@Sendable (PostgresTransaction) async throws -> Void)
            /// A hot write, decided with the group's others as a set (`commitFast`).
            case fast(FastWrite, @Sendable (FastWrite.Result) -> Void)
        }
        let work: Work
        let finish: @Sendable ((any Error)?) -> Void
    }

    private struct Queue {
        var jobs: Deque<Job> = []
        var waiter: CheckedContinuation<Bool, Never>?
        var closed = false
    }

    private let queue = Mutex(Queue())
    let maxBatch: Int
    let partitionCount: Int
    let logger: Logger
    let channels: PostgresStore.Channels
    /// Called after each commit, with the new head when events were written and the entity versions the
    /// commit set, before the jobs are answered.
    let onCommit: @Sendable (Int64?, [String: Int64]) -> Void

    init(
        maxBatch: Int, partitionCount: Int, channels: PostgresStore.Channels, logger: Logger,
        onCommit: @escaping @Sendable (Int64?, [String: Int64]) -> Void
    ) {
        self.maxBatch = maxBatch
        self.partitionCount = partitionCount
        self.channels = channels
        self.logger = logger
        self.onCommit = onCommit
    }

    @discardableResult
    func perform<T: Sendable>(_ body: @escaping @Sendable (PostgresTransaction) async throws -> T) async throws -> T {
        try await queued { deliver in .custom { tx in deliver(try await body(tx)) } }
    }

    /// A hot write (append, submit, complete), decided and written with the group's others as a set.
    func perform(_ write: FastWrite) async throws -> FastWrite.Result {
        try await queued { deliver in .fast(write, deliver) }
    }

    /// Queues the work `make` builds around a delivery of its result, and waits for the group's answer.
    private func queued<T: Sendable>(_ make: (_ deliver: @escaping @Sendable (T) -> Void) -> Job.Work) async throws -> T {
        let result = Mutex<T?>(nil)
        let work = make { value in result.withLock { $0 = value } }
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            // Answered once: a group given up at its deadline answers its jobs, and the abandoned commit
            // may still try to.
            let once = FirstAnswer()
            once.set(c)
            let job = Job(work: work) { error in once.finish(error.map { .failure($0) } ?? .success(())) }
            enqueue(job, c)
        }
        return result.withLock { $0.take()! }
    }

    private func enqueue(_ job: Job, _ c: CheckedContinuation<Void, any Error>) {
        let (accepted, waiter) = queue.withLock { q -> (Bool, CheckedContinuation<Bool, Never>?) in
            guard !q.closed else { return (false, nil) }
            q.jobs.append(job)
            let w = q.waiter
            q.waiter = nil
            return (true, w)
        }
        if !accepted {
            c.resume(throwing: EventoError(.unavailable, "the store is closed"))
            return
        }
        waiter?.resume(returning: true)
    }

    /// Stops taking jobs; `run` returns once the queued ones are committed.
    func close() {
        let waiter = queue.withLock { q -> CheckedContinuation<Bool, Never>? in
            q.closed = true
            let w = q.waiter
            q.waiter = nil
            return w
        }
        waiter?.resume(returning: false)
    }

    /// The next group of jobs; nil once closed and drained.
    private func nextBatch() async -> [Job]? {
        while true {
            let batch = queue.withLock { q -> [Job]? in
                guard !q.jobs.isEmpty else { return q.closed ? nil : [] }
                var out: [Job] = []
                while out.count < maxBatch, let j = q.jobs.popFirst() { out.append(j) }
                return out
            }
            guard let batch else { return nil }
            if !batch.isEmpty { return batch }
            let more = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let resumeNow = queue.withLock { q -> Bool in
                    if !q.jobs.isEmpty || q.closed { return true }
                    q.waiter = c
                    return false
                }
                if resumeNow { c.resume(returning: true) }
            }
            _ = more
        }
    }

    /// Commits groups until closed, (re)connecting through the pool as needed.
    func run(client: PostgresClient) async {
        var pending: [Job]? = nil
        // Whether the pending group was sent (its outcome is then unknown: its jobs get the error) or not yet.
        var attempted = false
        while true {
            do {
                try await client.withConnection { connection in
                    while true {
                        let batch: [Job]
                        if let p = pending {
                            batch = p
                        } else if let next = await nextBatch() {
                            batch = next
                        } else {
                            return
                        }
                        pending = batch
                        // A connection the server closed while the writer waited (a PostgreSQL restart): a
                        // query on it would never be answered (postgres-nio drops the write to a closed
                        // channel), so the group waits for the next connection instead, not yet attempted.
                        guard !connection.isClosed else { throw ConnectionGone() }
                        attempted = true
                        try await commitWithin(Self.commitDeadline, batch, on: connection)
                        pending = nil
                        attempted = false
                    }
                }
                return
            } catch is ConnectionGone where !attempted {
                logger.warning("PostgreSQL writer connection was closed by the server; reconnecting")
                try? await Task.sleep(for: .milliseconds(200))
            } catch {
                // The connection failed: the group's outcome is unknown to it, so its jobs get the error
                // (their callers retry: every write is idempotent by id).
                if let batch = pending {
                    for job in batch { job.finish(EventoError(.unavailable, "PostgreSQL write failed: \(String(reflecting: error))")) }
                    pending = nil
                }
                attempted = false
                logger.error("PostgreSQL writer connection failed; reconnecting: \(String(reflecting: error))")
                // Closing: the queued jobs are answered with the failure rather than retried forever.
                let abandoned = queue.withLock { q -> [Job]? in
                    guard q.closed else { return nil }
                    let jobs = Array(q.jobs)
                    q.jobs.removeAll()
                    return jobs
                }
                if let abandoned {
                    for job in abandoned { job.finish(EventoError(.unavailable, "the store closed while PostgreSQL was unreachable")) }
                    return
                }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    struct ConnectionGone: Error {}

    /// How long one group may take before its connection is given up (closed: the server rolls back).
    static let commitDeadline: Duration = .seconds(20)

    /// `commit`, given up after `deadline`: a query that is never answered (a connection lost in a way the
    /// driver does not notice) must not stall every write of the instance. The connection is closed, so a
    /// transaction still open on the server is rolled back, and the group's callers get the error (every
    /// write is idempotent by id: they retry).
    private func commitWithin(_ deadline: Duration, _ batch: [Job], on connection: PostgresConnection) async throws {
        let once = FirstAnswer()
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            once.set(c)
            // The watch: every 250 ms, whether the connection closed under the commit (a query written as it
            // closed is never answered: postgres-nio drops the write), and the deadline.
            let timer = Task { [logger] in
                let end = ContinuousClock.now + deadline
                while true {
                    do { try await Task.sleep(for: .milliseconds(250)) } catch { return }
                    if connection.isClosed {
                        guard let c = once.claim() else { return }
                        c.resume(throwing: ConnectionGone())
                        return
                    }
                    if ContinuousClock.now >= end { break }
                }
                guard let c = once.claim() else { return }
                logger.error("PostgreSQL writer: a group commit has not finished in \(deadline); closing its connection")
                // Closed before the writer goes on: the connection must not return to the pool with the
                // transaction open (the server rolls it back).
                try? await connection.close()
                c.resume(throwing: EventoError(.unavailable, "PostgreSQL did not answer a commit within \(deadline); its outcome is unknown (retry)"))
            }
            Task {
                do {
                    try await self.commit(batch, on: connection)
                    timer.cancel()
                    once.finish(.success(()))
                } catch {
                    timer.cancel()
                    once.finish(.failure(error))
                }
            }
        }
    }

    /// Resumes a continuation once: with whichever answer comes first.
    private final class FirstAnswer: Sendable {
        private let state = Mutex<(continuation: CheckedContinuation<Void, any Error>?, done: Bool)>((nil, false))

        func set(_ c: CheckedContinuation<Void, any Error>) { state.withLock { $0.continuation = c } }

        /// The continuation, if no answer was given yet; no later answer will be.
        func claim() -> CheckedContinuation<Void, any Error>? {
            state.withLock { s -> CheckedContinuation<Void, any Error>? in
                guard !s.done else { return nil }
                s.done = true
                defer { s.continuation = nil }
                return s.continuation
            }
        }

        func finish(_ result: Result<Void, any Error>) { claim()?.resume(with: result) }
    }

    /// One group: BEGIN, lock the feed, each job under a savepoint, announce, COMMIT. Job errors are the
    /// jobs'; a thrown error is the connection's (every job of the group is then unanswered).
    private func commit(_ batch: [Job], on connection: PostgresConnection) async throws {
        do {
            try await commitGroup(batch, on: connection)
        } catch {
            // Whatever failed, the connection goes back to the pool outside any transaction (one left open
            // would hold the feed row).
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    private func commitGroup(_ batch: [Job], on connection: PostgresConnection) async throws {
        let start = ContinuousClock.now
        try await connection.query("BEGIN", logger: logger)
        let head: Int64
        do {
            let rows = try await connection.query("SELECT head FROM evento_feed WHERE id = 1 FOR UPDATE", logger: logger).collect()
            head = try rows[0].decode(Int64.self)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
        let tx = PostgresTransaction(connection: connection, head: head, now: .now(), partitionCount: partitionCount, logger: logger)
        var failures: [(any Error)?] = Array(repeating: nil, count: batch.count)
        var succeeded = 0
        // The hot writes first, as one set; an error there is the whole group's.
        var fastIndices: [Int] = []
        var fastItems: [FastWrite] = []
        for (i, job) in batch.enumerated() {
            if case .fast(let w, _) = job.work {
                fastIndices.append(i)
                fastItems.append(w)
            }
        }
        if !fastItems.isEmpty {
            let outcomes: [Result<FastWrite.Result, any Error>]
            do {
                outcomes = try await commitFast(fastItems, tx: tx, finishes: fastItems.count == batch.count)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                if Self.isConnectionError(error) { throw error }
                let e = Self.translate(error)
                for job in batch { job.finish(e) }
                return
            }
            for (k, i) in fastIndices.enumerated() {
                switch outcomes[k] {
                case .success(let value):
                    if case .fast(_, let deliver) = batch[i].work { deliver(value) }
                    succeeded += 1
                case .failure(let error):
                    failures[i] = error
                }
            }
        }
        // Then the others, each under a savepoint (one that fails is undone alone).
        let customCount = batch.count - fastItems.count
        let single = customCount == 1 && fastItems.isEmpty
        for (i, job) in batch.enumerated() {
            guard case .custom(let run) = job.work else { continue }
            let mark = tx.mark()
            if !single { try await connection.query("SAVEPOINT job", logger: logger) }
            do {
                try await run(tx)
                succeeded += 1
            } catch {
                if Self.isConnectionError(error) {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
                failures[i] = Self.translate(error)
                tx.restore(mark)
                if !single { try await connection.query("ROLLBACK TO SAVEPOINT job", logger: logger) }
            }
        }
        if succeeded == 0 {
            try await connection.query("ROLLBACK", logger: logger)
            for (i, job) in batch.enumerated() { job.finish(failures[i]) }
            return
        }
        let wroteEvents = tx.head > tx.startHead
        if !tx.finalized && (wroteEvents || !tx.commandPartitions.isEmpty || !tx.finished.isEmpty) {
            let partitions = tx.commandPartitions.sorted().map(String.init).joined(separator: ",")
            let events = wroteEvents ? String(tx.head) : ""
            let finished = Self.chunks(tx.finished, maxBytes: 7_000)
            try await connection.query(
                """
                WITH h AS (UPDATE evento_feed SET head = \(tx.head) WHERE id = 1 AND \(wroteEvents))
                SELECT CASE WHEN \(events) <> '' THEN pg_notify(\(channels.events), \(events)) END,
                       CASE WHEN \(partitions) <> '' THEN pg_notify(\(channels.commands), \(partitions)) END,
                       (SELECT count(pg_notify(\(channels.finished), f)) FROM unnest(\(finished)::text[]) AS f)
                """, logger: logger)
        }
        try await connection.query("COMMIT", logger: logger)
        EventoMetrics.appendGroupSize.record(batch.count)
        EventoMetrics.appendCommitDuration.recordNanoseconds((ContinuousClock.now - start).nanoseconds)
        onCommit(wroteEvents ? tx.head : nil, tx.versions)
        for (i, job) in batch.enumerated() { job.finish(failures[i]) }
    }

    /// Ids joined by line breaks (which no id holds) into payloads below `maxBytes` (a notification's
    /// payload is under 8000 bytes).
    static func chunks(_ ids: [String], maxBytes: Int) -> [String] {
        var out: [String] = []
        var current = ""
        for id in ids {
            if !current.isEmpty && current.utf8.count + id.utf8.count + 1 > maxBytes {
                out.append(current)
                current = ""
            }
            current += current.isEmpty ? id : "\n" + id
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// Whether the connection is lost: a client-side failure, or a server error that ends the session
    /// (class 08, connection exception; 57P01–57P05: shutdown, crash, not accepting connections, …; not
    /// 57014, a cancelled statement, which fails its job alone). The writer reconnects; callers retry.
    static func isConnectionError(_ error: any Error) -> Bool {
        guard let e = error as? PSQLError else { return false }
        guard e.code == .server else { return true }
        let state = e.serverInfo?[.sqlState] ?? ""
        return state.hasPrefix("08") || (state.hasPrefix("57P"))
    }

    /// A server error a caller understands (a unique violation is an idempotency or version conflict).
    static func translate(_ error: any Error) -> any Error {
        guard let e = error as? PSQLError, e.code == .server else { return error }
        let state = e.serverInfo?[.sqlState] ?? ""
        let message = e.serverInfo?[.message] ?? "\(e)"
        if state == "40P01" || state == "40001" || state.hasPrefix("08") || state.hasPrefix("57P") {
            return EventoError(.unavailable, "PostgreSQL: \(message) (retry)")
        }
        return EventoError(.internal, "PostgreSQL: \(message) [\(state)]")
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, a) = components
        return s * 1_000_000_000 + a / 1_000_000_000
    }
}
