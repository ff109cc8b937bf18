import EventoCore
import Foundation
import PostgresNIO
import Synchronization

extension PostgresStore {
    static func timestamp(_ date: Date) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1000).rounded()))
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        let (s, a) = d.components
        return s * 1000 + a / 1_000_000_000_000_000
    }

    public func heartbeat(instance: String, address: String, ttl: Duration) async throws -> [ClusterInstance] {
        let ms = Self.milliseconds(ttl)
        try await read(
            """
            INSERT INTO evento_instances(id, address, started_at, last_seen) VALUES (\(instance), \(address), now(), now())
            ON CONFLICT (id) DO UPDATE SET address = excluded.address, last_seen = now()
            """)
        return try await read(
            """
            SELECT id, address, started_at, last_seen FROM evento_instances
            WHERE last_seen > now() - make_interval(secs => \(Double(ms) / 1000)) ORDER BY id
            """
        ).map { row in
            let (id, address, started, seen) = try row.decode((String, String, Date, Date).self)
            return ClusterInstance(id: id, address: address, startedAt: Self.timestamp(started), lastSeen: Self.timestamp(seen))
        }
    }

    public func leases() async throws -> [LeaseRecord] {
        try await read("SELECT name, owner, token, expires_at FROM evento_leases ORDER BY name").map { row in
            let (name, owner, token, expires) = try row.decode((String, String?, Int64, Date).self)
            return LeaseRecord(name: name, owner: owner, token: token, expiresAt: Self.timestamp(expires))
        }
    }

    public func renewLeases(owner: String, ttl: Duration) async throws -> [String: Int64] {
        let secs = Double(Self.milliseconds(ttl)) / 1000
        var out: [String: Int64] = [:]
        for row in try await read(
            """
            UPDATE evento_leases SET expires_at = clock_timestamp() + make_interval(secs => \(secs))
            WHERE owner = \(owner) AND expires_at > clock_timestamp() RETURNING name, token
            """)
        {
            let (name, token) = try row.decode((String, Int64).self)
            out[name] = token
        }
        return out
    }

    /// Runs a lease change in a transaction that first share-locks the feed row: it waits for every writer
    /// transaction under way (they hold that row) and none starts until it commits. So a writer that
    /// checked its fence commits before the lease changes hands, and one that starts later sees the change:
    /// a deposed owner's commit can never land after its successor's first one.
    @discardableResult
    func fenced(_ query: PostgresQuery) async throws -> [PostgresRow] {
        do {
            return try await client.withConnection { c in
                try await c.query("BEGIN", logger: logger)
                do {
                    try await c.query("SELECT 1 FROM evento_feed WHERE id = 1 FOR SHARE", logger: logger)
                    let rows = try await c.query(query, logger: logger).collect()
                    try await c.query("COMMIT", logger: logger)
                    return rows
                } catch {
                    _ = try? await c.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        } catch let e as PSQLError {
            throw EventoError(.unavailable, "PostgreSQL lease change failed: \(Self.describe(e))")
        }
    }

    public func acquireLeases(_ names: [String], owner: String, ttl: Duration) async throws -> [String: Int64] {
        guard !names.isEmpty else { return [:] }
        let secs = Double(Self.milliseconds(ttl)) / 1000
        var out: [String: Int64] = [:]
        for row in try await fenced(
            """
            INSERT INTO evento_leases(name, owner, token, expires_at)
            SELECT n, \(owner), 1, clock_timestamp() + make_interval(secs => \(secs)) FROM unnest(\(names)::text[]) AS n
            ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, token = evento_leases.token + 1, expires_at = excluded.expires_at
            WHERE evento_leases.owner IS NULL OR evento_leases.expires_at <= clock_timestamp()
            RETURNING name, token
            """)
        {
            let (name, token) = try row.decode((String, Int64).self)
            out[name] = token
        }
        return out
    }

    public func releaseLeases(_ names: [String], owner: String) async throws {
        guard !names.isEmpty else { return }
        try await fenced(
            """
            UPDATE evento_leases SET owner = NULL, expires_at = '-infinity'
            WHERE name = ANY(\(names)) AND owner = \(owner)
            """)
    }

    public func removeInstance(_ id: String) async throws {
        try await read("DELETE FROM evento_instances WHERE id = \(id)")
    }

    public func pendingCommands(partitions: [Int], afterSeq: Int64, limit: Int) async throws -> [(seq: Int64, record: CommandRecord)] {
        guard !partitions.isEmpty else { return [] }
        var b = PostgresBindings()
        b.append(partitions)
        b.append(afterSeq)
        b.append(limit)
        return try await read(
            PostgresQuery(
                unsafeSQL: """
                    SELECT seq, \(PostgresRows.commandColumns) FROM commands
                    WHERE status = 'pending' AND partition = ANY($1) AND seq > $2 ORDER BY seq LIMIT $3
                    """, binds: b)
        ).map { (try $0.makeRandomAccess()[0].decode(Int64.self), try PostgresRows.command($0, offset: 1)) }
    }

    public func newPendingCommands(partitions: [Int], horizon: Int64, afterSeq: Int64, limit: Int) async throws
        -> (commands: [(seq: Int64, record: CommandRecord)], horizon: Int64)
    {
        // The horizon first: every transaction below it had finished when it was taken, so the rows read
        // next include all of theirs; a later scan need only look at transactions from it on.
        let next = try await read("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")[0].decode(Int64.self)
        guard !partitions.isEmpty else { return ([], next) }
        var b = PostgresBindings()
        b.append(partitions)
        b.append(horizon)
        b.append(afterSeq)
        b.append(limit)
        let rows = try await read(
            PostgresQuery(
                unsafeSQL: """
                    SELECT seq, \(PostgresRows.commandColumns) FROM commands
                    WHERE status = 'pending' AND txid >= $2 AND partition = ANY($1) AND seq > $3 ORDER BY seq LIMIT $4
                    """, binds: b)
        ).map { (try $0.makeRandomAccess()[0].decode(Int64.self), try PostgresRows.command($0, offset: 1)) }
        return (rows, next)
    }

    public func exclusively(_ body: @Sendable () async throws -> Void) async throws {
        try await client.withConnection { c in
            try await c.query("SELECT pg_advisory_lock(8245002)", logger: logger)
            do {
                try await body()
            } catch {
                _ = try? await c.query("SELECT pg_advisory_unlock(8245002)", logger: logger)
                throw error
            }
            try await c.query("SELECT pg_advisory_unlock(8245002)", logger: logger)
        }
    }

    public func notifications() -> AsyncStream<ClusterNotification> {
        let (stream, continuation) = AsyncStream.makeStream(of: ClusterNotification.self, bufferingPolicy: .bufferingNewest(10_000))
        let id = UUID()
        notificationStreams.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in _ = self?.notificationStreams.withLock { $0.removeValue(forKey: id) } }
        return stream
    }

    func broadcast(_ n: ClusterNotification) {
        for c in notificationStreams.withLock({ Array($0.values) }) { c.yield(n) }
    }

    /// Listens to the store's channels on one connection, reconnecting when it drops; advances `commits`
    /// with other instances' heads and passes everything on to `notifications()`.
    func listen() async {
        var first = true
        while !Task.isCancelled {
            let resumed = !first
            first = false
            do {
                try await client.withConnection { connection in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for channel in [channels.events, channels.commands, channels.finished, channels.catalogue] {
                            group.addTask {
                                try await connection.listen(on: channel) { notifications in
                                    for try await n in notifications { self.received(channel: channel, payload: n.payload) }
                                }
                            }
                        }
                        // Listening: whatever happened while not listening is caught up by the receivers.
                        group.addTask {
                            try await Task.sleep(for: .milliseconds(100))
                            if resumed { self.broadcast(.resumed) }
                            if let head = try? await self.headPosition() { self.commits.advance(to: head) }
                        }
                        try await group.waitForAll()
                    }
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                logger.warning("PostgreSQL notification listener lost its connection; reconnecting: \(Self.describe(error))")
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    private func received(channel: String, payload: String) {
        switch channel {
        case channels.events:
            if let head = Int64(payload) {
                commits.advance(to: head)
                broadcast(.events(head: head))
            }
        case channels.commands:
            broadcast(.commands(partitions: payload.split(separator: ",").compactMap { Int($0) }))
        case channels.finished:
            // One id per line (ids may hold commas, never line breaks).
            broadcast(.finished(commandIds: payload.split(separator: "\n").map(String.init)))
        case channels.catalogue:
            broadcast(payload == "functions" ? .functionsChanged : .schemasChanged)
        default: break
        }
    }
}
