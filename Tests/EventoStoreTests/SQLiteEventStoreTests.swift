import EventoCore
import EventoStore
import Foundation
import Synchronization
import Testing

/// A store in a fresh temporary directory, removed afterwards.
final class TemporaryStore {
    let directory: String
    var store: SQLiteEventStore

    init() throws {
        directory = NSTemporaryDirectory() + "evento-store-test-" + Identifiers.uuidV7()
        store = try SQLiteEventStore(configuration: .init(dataDirectory: directory))
    }

    func reopen() throws {
        store.close()
        store = try SQLiteEventStore(configuration: .init(dataDirectory: directory))
    }

    deinit {
        store.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

func event(_ entity: String, _ type: String = "Happened", id: String = Identifiers.uuidV7(), expected: ExpectedVersion = .any, payload: JSONValue = [:]) throws -> NewEvent {
    NewEvent(id: id, entity: try EntityId(parsing: entity), type: type, payload: RawJSON(payload), expectedVersion: expected)
}

@Suite struct SQLiteEventStoreTests {
    @Test func sequencesStayGaplessAndOrderedUnderEightConcurrentWriters() async throws {
        let t = try TemporaryStore()
        let store = t.store
        let perWriter = 50
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<8 {
                group.addTask {
                    for i in 0..<perWriter {
                        _ = try await store.append([try event("account:1", payload: ["writer": .int(Int64(w)), "i": .int(Int64(i))])])
                    }
                }
            }
            try await group.waitForAll()
        }
        let events = try await store.events(entity: EntityId(parsing: "account:1"), fromSequence: 1, limit: 10_000)
        #expect(events.count == 8 * perWriter)
        #expect(events.map(\.sequence) == Array(1...Int64(8 * perWriter)))
        #expect(events.map(\.position) == Array(1...Int64(8 * perWriter)))
        // Each writer's own events keep their order.
        for w in 0..<8 {
            let mine = events.compactMap { e -> Int64? in
                let p = try? e.payload.value()
                return p?["writer"] == .int(Int64(w)) ? p?["i"]?.intValue : nil
            }
            #expect(mine == Array(0..<Int64(perWriter)))
        }
        #expect(try await store.version(of: EntityId(parsing: "account:1")) == Int64(8 * perWriter))
    }

    @Test func concurrentAppendsAtTheSameExpectedVersionHaveExactlyOneWinner() async throws {
        let t = try TemporaryStore()
        let store = t.store
        _ = try await store.append([try event("account:2")])
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    do {
                        _ = try await store.append([try event("account:2", expected: .exact(1))])
                        return true
                    } catch let c as VersionConflict {
                        #expect(c.actual == 2)
                        #expect(c.expected == .exact(1))
                        return false
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 }.count == 1)
        #expect(try await store.version(of: EntityId(parsing: "account:2")) == 2)
    }

    @Test func theSameEventIdTwiceStoresOneEvent() async throws {
        let t = try TemporaryStore()
        let first = try await t.store.append([try event("account:3", id: "evt-1", payload: ["n": 1])])
        let second = try await t.store.append([try event("account:3", id: "evt-1", expected: .noStream, payload: ["n": 1])])
        #expect(first.duplicates == 0)
        #expect(second.duplicates == 1)
        #expect(second.events == first.events)
        #expect(try await t.store.events(afterPosition: 0, limit: 100).count == 1)
    }

    @Test func reusingAnIdForAnotherEntityIsAConflict() async throws {
        let t = try TemporaryStore()
        _ = try await t.store.append([try event("account:4", id: "evt-2")])
        await #expect(throws: IdempotencyConflict.self) {
            _ = try await t.store.append([try event("account:5", id: "evt-2")])
        }
        #expect(try await t.store.version(of: EntityId(parsing: "account:5")) == 0)
    }

    @Test func aBatchWithOneConflictingEventStoresNone() async throws {
        let t = try TemporaryStore()
        _ = try await t.store.append([try event("account:6")])
        await #expect(throws: VersionConflict.self) {
            _ = try await t.store.append([
                try event("account:7", expected: .noStream),
                try event("account:7", expected: .exact(1)),
                try event("account:6", expected: .noStream),  // account:6 exists
            ])
        }
        #expect(try await t.store.events(afterPosition: 0, limit: 100).count == 1)
        // The writer's version cache must not remember the rolled-back events.
        let ok = try await t.store.append([try event("account:7", expected: .noStream)])
        #expect(ok.events[0].sequence == 1)
        #expect(ok.events[0].position == 2)
    }

    @Test func aBatchMayAppendSeveralEventsToOneStreamWithExpectedVersions() async throws {
        let t = try TemporaryStore()
        let r = try await t.store.append([
            try event("account:8", expected: .noStream), try event("account:8", expected: .exact(1)),
            try event("account:8", expected: .exists),
        ])
        #expect(r.events.map(\.sequence) == [1, 2, 3])
    }

    @Test func concurrentAppendsShareTransactions() async throws {
        let t = try TemporaryStore()
        let store = t.store
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<400 {
                group.addTask { _ = try await store.append([try event("account:g\(i % 20)")]) }
            }
            try await group.waitForAll()
        }
        let stats = store.writerStatistics
        #expect(stats.writes == 400)
        #expect(stats.transactions < 400, "400 concurrent appends took \(stats.transactions) transactions")
        #expect(stats.largestGroup > 1)
    }

    @Test func everythingSurvivesAReopen() async throws {
        let t = try TemporaryStore()
        let stored = try await t.store.append([try event("account:9", payload: ["x": "y"]), try event("account:9")])
        try t.reopen()
        let events = try await t.store.events(entity: EntityId(parsing: "account:9"), fromSequence: 1, limit: 10)
        #expect(events == stored.events)
        #expect(try await t.store.headPosition() == 2)
        let next = try await t.store.append([try event("account:9", expected: .exact(2))])
        #expect(next.events[0].sequence == 3)
    }

    @Test func aSecondStoreOnTheSameDirectoryIsRefused() throws {
        let t = try TemporaryStore()
        #expect(throws: EventoError.self) { try SQLiteEventStore(configuration: .init(dataDirectory: t.directory)) }
    }

    @Test func readsPageThroughTheFeedAndStreams() async throws {
        let t = try TemporaryStore()
        for i in 0..<10 { _ = try await t.store.append([try event(i % 2 == 0 ? "a:1" : "b:1")]) }
        let page = try await t.store.events(afterPosition: 4, limit: 3)
        #expect(page.map(\.position) == [5, 6, 7])
        let stream = try await t.store.events(entity: EntityId(parsing: "b:1"), fromSequence: 3, limit: 10)
        #expect(stream.map(\.sequence) == [3, 4, 5])
        #expect(stream.map(\.position) == [6, 8, 10])
    }

    @Test func causedByFindsChildren() async throws {
        let t = try TemporaryStore()
        var child = try event("a:1", id: "child")
        child.causationId = "parent"
        child.causationKind = .event
        _ = try await t.store.append([try event("a:1", id: "parent"), child])
        let items = try await t.store.items(causedBy: "parent", limit: 10)
        #expect(items.map(\.id) == ["child"])
    }
}

@Suite struct CheckpointTests {
    /// Commits never run SQLite's automatic checkpoint (`wal_autocheckpoint=0`); the checkpointer thread
    /// moves the WAL into the database file in the background. Proof: a copy of the database file alone,
    /// without its WAL, soon holds every committed event.
    @Test func committedEventsReachTheDatabaseFileWithoutAnyCommitCheckpointing() async throws {
        let t = try TemporaryStore()
        for b in 0..<30 {
            _ = try await t.store.append(try (0..<100).map { i in try event("bulk:\(b)-\(i % 7)", payload: ["n": .int(Int64(i))]) })
        }
        let head = try await t.store.headPosition()
        #expect(head == 3000)
        let source = t.store.configuration.databasePath
        var seen: Int64 = -1
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let copy = NSTemporaryDirectory() + "evento-checkpoint-copy-" + Identifiers.uuidV7()
            try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: copy) }
            let config = SQLiteEventStore.Configuration(dataDirectory: copy)
            try FileManager.default.copyItem(atPath: source, toPath: config.databasePath)
            let alone = try SQLiteEventStore(configuration: config)
            seen = try await alone.headPosition()
            alone.close()
            if seen == head { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(seen == head, "the database file alone holds \(seen) of \(head) events")
    }

    /// Under writes that never pause, the background checkpoint never catches up with the WAL, and SQLite
    /// rewinds a WAL only when a write begins with it fully copied: the WAL grew by everything written
    /// (2.3 GB in ten seconds of `evento bench events`). The writer now lets it start over once it passes
    /// its limit, and it is truncated to that limit.
    @Test func theWALStaysBoundedUnderWritesThatNeverPause() async throws {
        let directory = NSTemporaryDirectory() + "evento-wal-test-" + Identifiers.uuidV7()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = SQLiteEventStore.Configuration(dataDirectory: directory)
        configuration.walLimitBytes = 1 << 20
        configuration.checkpointInterval = .milliseconds(20)
        let store = try SQLiteEventStore(configuration: configuration)
        defer { store.close() }
        let database = configuration.databasePath
        let wal = database + "-wal"
        @Sendable func size(_ path: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0 }
        let note = String(repeating: "n", count: 600)
        // Eight writers without a pause until the database file has taken 24 MB: twenty-four times the limit
        // (or a minute has passed, which only a store whose checkpoints stopped would need).
        let deadline = ContinuousClock.now + .seconds(60)
        let largest = try await withThrowingTaskGroup(of: Int.self) { group in
            for w in 0..<8 {
                group.addTask {
                    var i = 0
                    var largest = 0
                    while size(database) < 24 << 20, ContinuousClock.now < deadline {
                        _ = try await store.append(try (0..<20).map { k in try event("wal:\(w)-\((i * 20 + k) % 500)", payload: ["note": .string(note)]) })
                        i += 1
                        largest = max(largest, size(wal))
                    }
                    return largest
                }
            }
            return try await group.reduce(0) { max($0, $1) }
        }
        #expect(size(database) >= 24 << 20, "the database file took \(size(database)) bytes in a minute")
        #expect(largest < 8 << 20, "the WAL reached \(largest) bytes with a limit of \(1 << 20)")
        #expect(try await store.headPosition() > 20_000)
    }
}

@Suite struct CommandLogTests {
    func newCommand(_ id: String, payload: JSONValue) throws -> NewCommand {
        NewCommand(
            id: id, entity: try EntityId(parsing: "account:1"), type: "Deposit", payload: RawJSON(payload), causationId: nil,
            causationKind: .external, correlationId: id, traceparent: nil)
    }

    @Test func aCommandIdReusedWithAnotherPayloadIsRefusedAndTheSamePayloadIsAReplay() async throws {
        let t = try TemporaryStore()
        #expect(try await t.store.submit([try newCommand("c1", payload: ["amount": 1, "note": "x"])])[0].isNew)
        // Same payload, members in another order: the same command.
        #expect(try await !t.store.submit([try newCommand("c1", payload: ["note": "x", "amount": 1])])[0].isNew)
        await #expect(throws: IdempotencyConflict.self) { try await t.store.submit([try newCommand("c1", payload: ["amount": 2])]) }
    }

    @Test func aCommandsCommitRefusesAnEventIdThatIsAlreadyStored() async throws {
        let t = try TemporaryStore()
        let record = try await t.store.submit([try newCommand("c1", payload: [:])])[0].record
        _ = try await t.store.append([try event("account:1", id: "taken")])
        let mine = try event("account:1", id: "taken")
        await #expect(throws: IdempotencyConflict.self) {
            _ = try await t.store.complete(
                CommandCompletion(command: record, isLogged: true, attempts: 1, events: [mine], expectedVersion: 1, snapshot: nil))
        }
        #expect(try await t.store.command(id: "c1")?.status == .pending, "nothing of the commit was written")
        #expect(try await t.store.version(of: try EntityId(parsing: "account:1")) == 1)
    }

    @Test func theIdKeySurvivesAReopenSoDerivedIdsStayTheSame() async throws {
        let t = try TemporaryStore()
        let before = t.store.idDerivation.commandId(event: "c", dispatcher: "d", index: 0)
        try t.reopen()
        #expect(t.store.idDerivation.commandId(event: "c", dispatcher: "d", index: 0) == before)
        let other = try TemporaryStore()
        #expect(other.store.idDerivation.commandId(event: "c", dispatcher: "d", index: 0) != before)
    }
}
