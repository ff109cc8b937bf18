import EventoCore
import EventoPostgres
import Foundation
import Logging
import PostgresNIO
import Testing

let postgresTestURL = ProcessInfo.processInfo.environment["EVENTO_TEST_POSTGRES_URL"]

/// What a cluster relies on in the PostgreSQL store: leases with fencing tokens, fenced commits, and command
/// scans that miss nothing whatever order transactions commit in.
@Suite(.enabled(if: postgresTestURL != nil, "EVENTO_TEST_POSTGRES_URL names a PostgreSQL server"))
struct PostgresClusterStoreTests {
    /// Two stores (two instances) on one fresh schema.
    static func twoInstances() async throws -> (PostgresStore, PostgresStore, String) {
        var configuration = PostgresStore.Configuration(url: postgresTestURL!)
        configuration.schema = "fence_" + Identifiers.uuidV7().replacingOccurrences(of: "-", with: "").suffix(16)
        configuration.poolSize = 4
        configuration.partitions = 4
        let a = try await PostgresStore.open(configuration: configuration)
        let b = try await PostgresStore.open(configuration: configuration)
        return (a, b, configuration.schema!)
    }

    @Test func aDeposedOwnerCannotCommitAndItsSuccessorCan() async throws {
        let (a, b, _) = try await Self.twoInstances()
        defer { Task { await a.close(); await b.close() } }
        let lease = Partitioning.leaseName(0)
        let ttl = Duration.milliseconds(400)
        let first = try await a.acquireLeases([lease], owner: "A", ttl: ttl)
        let tokenA = try #require(first[lease])
        #expect(try await b.acquireLeases([lease], owner: "B", ttl: ttl).isEmpty, "a held lease is not taken")
        #expect(try await a.renewLeases(owner: "A", ttl: ttl)[lease] == tokenA)

        // A stalls past its lease; B takes the partition with a higher token.
        try await Task.sleep(for: .milliseconds(600))
        let second = try await b.acquireLeases([lease], owner: "B", ttl: .seconds(10))
        let tokenB = try #require(second[lease])
        #expect(tokenB > tokenA)
        #expect(try await a.renewLeases(owner: "A", ttl: ttl)[lease] == nil, "A finds its lease lost")

        let command = try #require(try await a.submit([try commandDraft("fenced-1")]).first?.record)
        let events = [NewEvent(id: Identifiers.uuidV7(), entity: command.entity, type: "Deposited", payload: RawJSON(["amount": 1]))]
        // A's commit under its old fence: refused, nothing written.
        await #expect(throws: FenceLost.self) {
            try await a.complete(
                CommandCompletion(
                    command: command, isLogged: true, attempts: 1, events: events, expectedVersion: 0, snapshot: nil,
                    fence: Fence(lease: lease, owner: "A", token: tokenA)))
        }
        #expect(try await b.command(id: "fenced-1")?.status == .pending)
        #expect(try await b.headPosition() == 0)
        // B's commit under its fence lands.
        let done = try await b.complete(
            CommandCompletion(
                command: command, isLogged: true, attempts: 1, events: events, expectedVersion: 0, snapshot: nil,
                fence: Fence(lease: lease, owner: "B", token: tokenB)))
        guard case .committed(let record, let stored) = done else { Issue.record("not committed: \(done)"); return }
        #expect(record.status == .succeeded)
        #expect(stored.map(\.position) == [1])
        // And A, still thinking it owns the partition, cannot write it with a guessed newer token either.
        await #expect(throws: FenceLost.self) {
            try await a.complete(
                CommandCompletion(
                    command: command, isLogged: true, attempts: 2, events: events, expectedVersion: 1, snapshot: nil,
                    fence: Fence(lease: lease, owner: "A", token: tokenB)))
        }
    }

    @Test func contendersForAFreeLeaseGetItOnceAndAReleasedOneIsTakenAtOnce() async throws {
        let (a, b, _) = try await Self.twoInstances()
        defer { Task { await a.close(); await b.close() } }
        let names = (0..<4).map(Partitioning.leaseName)
        async let fromA = a.acquireLeases(names, owner: "A", ttl: .seconds(10))
        async let fromB = b.acquireLeases(names, owner: "B", ttl: .seconds(10))
        let (gotA, gotB) = try await (fromA, fromB)
        #expect(gotA.count + gotB.count == 4, "each partition went to exactly one")
        #expect(Set(gotA.keys).isDisjoint(with: gotB.keys))
        // A graceful hand-over: released leases are free at once, with the token raised when retaken.
        let (holder, other, held) = gotA.isEmpty ? (b, a, gotB) : (a, b, gotA)
        let holderName = gotA.isEmpty ? "B" : "A"
        let otherName = gotA.isEmpty ? "A" : "B"
        try await holder.releaseLeases(Array(held.keys), owner: holderName)
        let retaken = try await other.acquireLeases(Array(held.keys), owner: otherName, ttl: .seconds(10))
        #expect(retaken.count == held.count)
        for (name, token) in retaken { #expect(token == held[name]! + 1) }
        let leases = try await a.leases().filter { $0.name.hasPrefix("partition:") }
        #expect(leases.allSatisfy { $0.owner != nil })
    }

    /// Fencing under contention: a lease cannot change hands while a writer's group is under way (it holds
    /// the feed row), so a commit checked against the old owner's fence lands before the new owner's lease
    /// exists, never after it.
    @Test func aLeaseChangeWaitsForTheWriteUnderWay() async throws {
        let (a, b, schema) = try await Self.twoInstances()
        defer { Task { await a.close(); await b.close() } }
        let lease = Partitioning.leaseName(1)
        _ = try await a.acquireLeases([lease], owner: "A", ttl: .milliseconds(300))
        try await Task.sleep(for: .milliseconds(400))  // expired: B may take it
        // A writer mid-group: the feed row locked, not committed.
        let url = try #require(URLComponents(string: postgresTestURL!))
        let config = PostgresConnection.Configuration(
            host: url.host!, port: url.port ?? 5432, username: url.user ?? "postgres", password: url.password,
            database: String(url.path.dropFirst()), tls: .disable)
        let logger = Logger(label: "test")
        let writer = try await PostgresConnection.connect(configuration: config, id: 2, logger: logger)
        defer { Task { try? await writer.close() } }
        try await writer.query(PostgresQuery(unsafeSQL: "SET search_path = \"\(schema)\""), logger: logger)
        try await writer.query("BEGIN", logger: logger)
        try await writer.query("SELECT head FROM evento_feed WHERE id = 1 FOR UPDATE", logger: logger)
        let taking = Task { try await b.acquireLeases([lease], owner: "B", ttl: .seconds(10)) }
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await a.leases().first { $0.name == lease }?.owner == "A", "the lease did not change hands during the write")
        try await writer.query("COMMIT", logger: logger)
        let taken = try await taking.value
        #expect(taken[lease] != nil, "taken once the write committed")
        #expect(try await a.leases().first { $0.name == lease }?.owner == "B")
    }

    @Test func aCommandLoggedByATransactionThatCommitsLateIsFoundByTheNextScan() async throws {
        let (a, b, schema) = try await Self.twoInstances()
        defer { Task { await a.close(); await b.close() } }
        let entity = try eid("account:late")
        let partition = Partitioning.partition(of: entity.rawValue, count: a.partitionCount)
        // A slow writer: its transaction takes an id first, logs a pending command, and commits later.
        let url = try #require(URLComponents(string: postgresTestURL!))
        let config = PostgresConnection.Configuration(
            host: url.host!, port: url.port ?? 5432, username: url.user ?? "postgres", password: url.password,
            database: String(url.path.dropFirst()), tls: .disable)
        let logger = Logger(label: "test")
        let slow = try await PostgresConnection.connect(configuration: config, id: 1, logger: logger)
        defer { Task { try? await slow.close() } }
        try await slow.query(PostgresQuery(unsafeSQL: "SET search_path = \"\(schema)\""), logger: logger)
        try await slow.query("BEGIN", logger: logger)
        try await slow.query(
            """
            INSERT INTO commands(id, entity, partition, type, payload, causation_kind, correlation_id, status, created_at, updated_at)
            VALUES ('late', \(entity.rawValue), \(partition), 'Deposit', '{}', 'external', 'late', 'pending', 0, 0)
            """, logger: logger)
        // Meanwhile a later transaction logs another command, and a scan runs.
        _ = try await b.submit([try commandDraft("early", entity: "account:late")])
        let (firstPage, horizon) = try await a.newPendingCommands(partitions: [partition], horizon: 0, afterSeq: 0, limit: 100)
        #expect(firstPage.map(\.record.id) == ["early"])
        try await slow.query("COMMIT", logger: logger)
        // The next scan from that horizon finds the late one (a plain "seq after the last seen" would not:
        // its seq is below "early"'s).
        let (secondPage, _) = try await a.newPendingCommands(partitions: [partition], horizon: horizon, afterSeq: 0, limit: 100)
        #expect(secondPage.map(\.record.id).contains("late"))
        let lateSeq = try #require(secondPage.first { $0.record.id == "late" }?.seq)
        let earlySeq = try #require(firstPage.first?.seq)
        #expect(lateSeq < earlySeq)
    }
}
