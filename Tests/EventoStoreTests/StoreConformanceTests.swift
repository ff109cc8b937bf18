import EventoCore
import EventoPostgres
import EventoStore
import Foundation
import Synchronization
import Testing

// MARK: Backends

/// Where a durable backend keeps one test's data (a directory, later a PostgreSQL schema); removed when
/// the last store opened on it is gone.
final class DataLocation: Sendable {
    let name = "evento-conformance-" + Identifiers.uuidV7()
    var directory: String { NSTemporaryDirectory() + name }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

/// A store a test opened. Tests close it when they end (`defer { opened.close() }`, which also keeps it
/// alive until then); dropping it closes it too.
final class OpenedStore: Sendable {
    let store: any EventoStorage
    let location: DataLocation
    private let release: @Sendable () -> Void

    init(store: any EventoStorage, location: DataLocation, release: @escaping @Sendable () -> Void) {
        self.store = store
        self.location = location
        self.release = release
    }

    /// Closes the store now (idempotent).
    func close() { release() }

    deinit { release() }
}

/// One implementation of `EventoStorage` under test, opened fresh for each test.
///
/// A PostgreSQL backend joins with one more entry in `all`, present only when a server is configured, e.g.
/// `+ Backend.ifConfigured("EVENTO_TEST_POSTGRES_URL") { url in Backend(name: "PostgreSQL", isDurable: true) { location in … } }`
/// (each test its own schema, named after `location.name`): without the variable the suite runs as today.
struct Backend: Sendable, CustomTestStringConvertible {
    let name: String
    /// Whether what it stores outlives the instance (a close and a reopen find it again).
    let isDurable: Bool
    /// Opens (or reopens) a store on `location`; returns it and how to close it synchronously.
    let make: @Sendable (DataLocation) async throws -> (any EventoStorage, @Sendable () -> Void)
    /// Opens the data as a crash at this instant would leave it (nil: no such thing for this backend).
    var crashCopy: (@Sendable (OpenedStore) throws -> OpenedStore)? = nil

    var testDescription: String { name }

    static let sqlite = Backend(
        name: "SQLite", isDurable: true,
        make: openSQLite,
        crashCopy: { opened in
            // The database and its WAL as they are on disk, without closing: what a crash (or power cut)
            // after the answered commits leaves. The WAL is copied first: a checkpoint running meanwhile
            // only copies WAL frames into the database file, which the copied WAL then replays again.
            let copy = DataLocation()
            try FileManager.default.createDirectory(atPath: copy.directory, withIntermediateDirectories: true)
            let source = SQLiteEventStore.Configuration(dataDirectory: opened.location.directory).databasePath
            let target = SQLiteEventStore.Configuration(dataDirectory: copy.directory).databasePath
            try FileManager.default.copyItem(atPath: source + "-wal", toPath: target + "-wal")
            try FileManager.default.copyItem(atPath: source, toPath: target)
            let (store, close) = try openSQLite(copy)
            return OpenedStore(store: store, location: copy, release: close)
        })

    static func openSQLite(_ location: DataLocation) throws -> (any EventoStorage, @Sendable () -> Void) {
        let store = try SQLiteEventStore(configuration: .init(dataDirectory: location.directory))
        return (store, { store.close() })
    }

    static let memory = Backend(name: "in-memory", isDurable: false) { _ in (InMemoryStore(), {}) }

    /// Every backend the suite runs against.
    static let all: [Backend] = [.sqlite, .memory] + ifConfigured("EVENTO_TEST_POSTGRES_URL") { url in postgres(url) }

    /// PostgreSQL: each test its own schema of the configured database, dropped with its location.
    static func postgres(_ url: String) -> Backend {
        Backend(name: "PostgreSQL", isDurable: true) { location in
            var configuration = PostgresStore.Configuration(url: url)
            configuration.schema = location.name
            configuration.poolSize = 4
            let store = try await PostgresStore.open(configuration: configuration)
            return (store, { Task { await store.close() } })
        }
    }
    static var durable: [Backend] { all.filter(\.isDurable) }
    static var crashable: [Backend] { all.filter { $0.crashCopy != nil } }

    /// The backends `make` gives when the environment variable is set (its value, e.g. a server URL),
    /// none otherwise: how a backend that needs a server is skipped where there is none.
    static func ifConfigured(_ variable: String, _ make: (String) -> Backend) -> [Backend] {
        ProcessInfo.processInfo.environment[variable].map { [make($0)] } ?? []
    }

    func open(at location: DataLocation = DataLocation()) async throws -> OpenedStore {
        let (store, close) = try await make(location)
        let once = Once()
        return OpenedStore(store: store, location: location) { once.run(close) }
    }

    /// Closes the store and opens its data again.
    func reopen(_ opened: OpenedStore) async throws -> OpenedStore {
        opened.close()
        return try await open(at: opened.location)
    }
}

/// Runs a body the first time only.
final class Once: Sendable {
    private let done = Mutex(false)

    func run(_ body: () -> Void) {
        let first = done.withLock { d in
            defer { d = true }
            return !d
        }
        if first { body() }
    }
}

// MARK: Helpers

func eid(_ text: String) throws -> EntityId { try EntityId(parsing: text) }

/// The entity `commandDraft` addresses unless told otherwise.
let account1 = try! EntityId(parsing: "account:1")

func draft(
    _ entity: String, _ type: String = "Happened", id: String = Identifiers.uuidV7(), expected: ExpectedVersion = .any,
    payload: JSONValue = [:], causedBy cause: String? = nil
) throws -> NewEvent {
    NewEvent(
        id: id, entity: try eid(entity), type: type, payload: RawJSON(payload), causationId: cause, causationKind: cause == nil ? .external : .event,
        expectedVersion: expected)
}

func commandDraft(
    _ id: String, entity: String = "account:1", type: String = "Deposit", payload: JSONValue = [:], causedBy cause: String? = nil,
    correlationId: String? = nil
) throws -> NewCommand {
    NewCommand(
        id: id, entity: try eid(entity), type: type, payload: RawJSON(payload), causationId: cause,
        causationKind: cause == nil ? .external : .event, correlationId: correlationId ?? id, traceparent: nil)
}

/// A command's completion with `count` events of its own (ids derived from the command id).
func completion(
    _ record: CommandRecord, isLogged: Bool = true, attempts: Int = 1, events count: Int = 1, expectedVersion: Int64 = 0,
    snapshot: JSONValue? = nil
) -> CommandCompletion {
    let events = (0..<count).map { i in
        NewEvent(
            id: "\(record.id)-e\(i)", entity: record.entity, type: "Deposited", payload: RawJSON(["i": .int(Int64(i))]),
            causationId: record.id, causationKind: .command, correlationId: record.correlationId)
    }
    return CommandCompletion(
        command: record, isLogged: isLogged, attempts: attempts, events: events, expectedVersion: expectedVersion,
        snapshot: snapshot.map { Snapshot(entity: record.entity, version: expectedVersion + Int64(count), state: RawJSON($0)) })
}

func committed(_ result: CompletionResult) throws -> (CommandRecord, [EventEnvelope]) {
    guard case .committed(let record, let events) = result else {
        Issue.record("expected a commit, got \(result)")
        throw CancellationError()
    }
    return (record, events)
}

// MARK: The suite

/// What every `EventoStorage` backend must do, as the SQLite store does it: the specification, run against
/// each backend.
@Suite struct StoreConformanceTests {
    // MARK: Event log

    @Test(arguments: Backend.all)
    func appendsGetGaplessSequencesPerEntityAndGaplessPositionsOverall(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let drafts = try (0..<9).map { i in try draft(["a:1", "b:1", "c:1"][i % 3], payload: ["i": .int(Int64(i))]) }
        let first = try await store.append(Array(drafts[0..<4]))
        let second = try await store.append(Array(drafts[4...]))
        #expect(first.duplicates == 0 && second.duplicates == 0)
        #expect((first.events + second.events).map(\.id) == drafts.map(\.id), "answered in request order")
        let all = try await store.events(afterPosition: 0, limit: 100)
        #expect(all == first.events + second.events)
        #expect(all.map(\.position) == Array(1...9))
        for entity in ["a:1", "b:1", "c:1"] {
            let stream = try await store.events(entity: eid(entity), fromSequence: 1, limit: 100)
            #expect(stream.map(\.sequence) == [1, 2, 3])
            #expect(stream.map(\.position) == stream.map(\.position).sorted())
            #expect(try await store.version(of: eid(entity)) == 3)
        }
        #expect(try await store.version(of: eid("d:1")) == 0)
        #expect(try await store.headPosition() == 9)
    }

    @Test(arguments: Backend.all)
    func aStoredEventKeepsEverythingItWasGivenAndGetsTheCommitTimeWhenItHasNone(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let given = NewEvent(
            id: "e-full", entity: try eid("acct:1"), type: "Opened", payload: RawJSON(["owner": "ada", "limit": 100]), causationId: "req-1",
            causationKind: .external, correlationId: "corr-1", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            expectedVersion: .noStream, schemaId: 7, time: Timestamp(millisecondsSinceEpoch: 1_700_000_000_123))
        let before = Timestamp.now()
        let r = try await store.append([given, try draft("acct:1", "Renamed", id: "e-bare")])
        let after = Timestamp.now()
        try #require(r.events.count == 2)
        let e = r.events[0]
        #expect(e.id == "e-full" && e.entity == given.entity && e.type == "Opened" && e.sequence == 1 && e.position == 1)
        #expect(try e.payload.value() == ["owner": "ada", "limit": 100])
        #expect(e.causationId == "req-1" && e.causationKind == .external && e.correlationId == "corr-1")
        #expect(e.traceparent == given.traceparent && e.schemaId == 7)
        #expect(e.time == given.time)
        #expect(r.events[1].time >= before && r.events[1].time <= after)
        #expect(r.events[1].correlationId == "e-bare", "a new event is its own correlation root")
        #expect(try await store.event(id: "e-full") == e)
        #expect(try await store.event(id: "e-bare") == r.events[1])
        #expect(try await store.event(id: "nope") == nil)
    }

    @Test(arguments: Backend.all)
    func expectedVersionsAreCheckedAgainstTheStream(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let a = try eid("acct:a")
        #expect(try await store.append([try draft("acct:a", expected: .noStream)]).events.map(\.sequence) == [1])
        let noStream = try await #require(throws: VersionConflict.self) { try await store.append([try draft("acct:a", expected: .noStream)]) }
        #expect(noStream == VersionConflict(entity: a, expected: .noStream, actual: 1, index: 0))
        let exists = try await #require(throws: VersionConflict.self) { try await store.append([try draft("acct:b", expected: .exists)]) }
        #expect(exists == VersionConflict(entity: try eid("acct:b"), expected: .exists, actual: 0, index: 0))
        #expect(try await store.append([try draft("acct:a", expected: .exists)]).events.map(\.sequence) == [2])
        #expect(try await store.append([try draft("acct:a", expected: .exact(2))]).events.map(\.sequence) == [3])
        let stale = try await #require(throws: VersionConflict.self) { try await store.append([try draft("acct:a", expected: .exact(2))]) }
        #expect(stale == VersionConflict(entity: a, expected: .exact(2), actual: 3, index: 0))
        let ahead = try await #require(throws: VersionConflict.self) { try await store.append([try draft("acct:a", expected: .exact(9))]) }
        #expect(ahead.actual == 3)
        #expect(try await store.append([try draft("acct:c", expected: .exact(0))]).events.map(\.sequence) == [1], "0 is noStream")
        #expect(try await store.append([try draft("acct:a", expected: .any)]).events.map(\.sequence) == [4])
        #expect(try await store.headPosition() == 5, "no refused append left anything")
    }

    @Test(arguments: Backend.all)
    func expectedVersionsWithinABatchSeeTheBatchsEarlierEvents(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let r = try await store.append([
            try draft("acct:1", expected: .noStream), try draft("acct:1", expected: .exact(1)), try draft("acct:2", expected: .noStream),
            try draft("acct:1", expected: .exists), try draft("acct:1", expected: .exact(3)),
        ])
        #expect(r.events.map(\.sequence) == [1, 2, 1, 3, 4])
        #expect(r.events.map(\.position) == [1, 2, 3, 4, 5])
        let conflict = try await #require(throws: VersionConflict.self) {
            try await store.append([try draft("acct:3", expected: .noStream), try draft("acct:3", expected: .noStream)])
        }
        #expect(conflict == VersionConflict(entity: try eid("acct:3"), expected: .noStream, actual: 1, index: 1))
    }

    @Test(arguments: Backend.all)
    func aBatchWithOneRefusedEventStoresNoneOfIt(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        _ = try await store.append([try draft("acct:6")])
        let conflict = try await #require(throws: VersionConflict.self) {
            try await store.append([
                try draft("acct:7", expected: .noStream), try draft("acct:7", expected: .exact(1)), try draft("acct:6", expected: .noStream),
            ])
        }
        #expect(conflict.index == 2)
        #expect(try await store.headPosition() == 1)
        #expect(try await store.version(of: eid("acct:7")) == 0)
        #expect(try await store.events(afterPosition: 0, limit: 100).count == 1)
        // Nothing of the refused batch is remembered: not its versions, not its positions, not its ids.
        let next = try await store.append([try draft("acct:7", expected: .noStream)])
        #expect(next.events.map(\.sequence) == [1])
        #expect(next.events.map(\.position) == [2])
        #expect(store.knownVersion(of: try eid("acct:7")) == 1)
    }

    @Test(arguments: Backend.all)
    func anEventIdAlreadyStoredIsAnsweredWithTheStoredEventAndCountedAsDuplicate(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let first = try await store.append([try draft("acct:3", id: "evt-1", payload: ["n": 1])])
        // A replay, even at an expected version that no longer holds and with another payload: the stored one.
        let replay = try await store.append([try draft("acct:3", id: "evt-1", expected: .noStream, payload: ["n": 2])])
        #expect(replay.duplicates == 1)
        #expect(replay.events == first.events)
        let again = try await store.append([try draft("acct:3", id: "evt-1")])
        #expect(again.duplicates == 1 && again.events == first.events)
        #expect(store.commits.head == 1, "a replay commits nothing")
        // A replay in a batch with new events: only the new ones are stored.
        let mixed = try await store.append([try draft("acct:3", id: "evt-2"), try draft("acct:3", id: "evt-1", expected: .exact(0))])
        #expect(mixed.duplicates == 1)
        #expect(mixed.events.map(\.id) == ["evt-2", "evt-1"])
        #expect(mixed.events.map(\.sequence) == [2, 1])
        #expect(try await store.events(afterPosition: 0, limit: 100).map(\.id) == ["evt-1", "evt-2"])
    }

    @Test(arguments: Backend.all)
    func anEventIdStoredForAnotherEntityOrTypeIsAConflictAndNothingOfTheBatchIsWritten(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        _ = try await store.append([try draft("acct:4", "Opened", id: "evt-2")])
        let otherEntity = try await #require(throws: IdempotencyConflict.self) {
            try await store.append([try draft("acct:5", id: "fresh"), try draft("acct:5", "Opened", id: "evt-2")])
        }
        #expect(otherEntity == IdempotencyConflict(kind: .event, id: "evt-2", storedEntity: try eid("acct:4"), storedType: "Opened", index: 1))
        let otherType = try await #require(throws: IdempotencyConflict.self) {
            try await store.append([try draft("acct:4", "Closed", id: "evt-2")])
        }
        #expect(otherType.storedType == "Opened" && otherType.index == 0 && !otherType.differentPayload)
        // Also when the expected version does not hold: the id is checked before the version is refused.
        await #expect(throws: IdempotencyConflict.self) { try await store.append([try draft("acct:5", id: "evt-2", expected: .exists)]) }
        #expect(try await store.event(id: "fresh") == nil)
        #expect(try await store.headPosition() == 1)
        #expect(try await store.version(of: eid("acct:5")) == 0)
    }

    @Test(arguments: Backend.all)
    func anIdTwiceInOneBatchIsStoredOnce(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let r = try await store.append([try draft("acct:1", id: "twice"), try draft("acct:1", id: "twice")])
        #expect(r.duplicates == 1)
        try #require(r.events.count == 2)
        #expect(r.events[0] == r.events[1])
        #expect(try await store.headPosition() == 1)
        await #expect(throws: IdempotencyConflict.self) {
            try await store.append([try draft("acct:2", id: "again"), try draft("acct:3", id: "again")])
        }
        #expect(try await store.headPosition() == 1)
    }

    @Test(arguments: Backend.all)
    func eightConcurrentWritersToOneEntityGetGaplessSequencesInCommitOrder(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let writers = 8, perWriter = 50
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<writers {
                group.addTask {
                    for i in 0..<perWriter {
                        _ = try await store.append([try draft("account:1", payload: ["writer": .int(Int64(w)), "i": .int(Int64(i))])])
                    }
                }
            }
            try await group.waitForAll()
        }
        let total = writers * perWriter
        let events = try await store.events(entity: eid("account:1"), fromSequence: 1, limit: 10_000)
        #expect(events.map(\.sequence) == Array(1...Int64(total)))
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.position < $1.position }, "positions strictly increase with sequences")
        #expect(try await store.events(afterPosition: 0, limit: 10_000).map(\.position) == Array(1...Int64(total)))
        for w in 0..<writers {
            let mine = events.compactMap { e -> Int64? in
                let p = try? e.payload.value()
                return p?["writer"] == .int(Int64(w)) ? p?["i"]?.intValue : nil
            }
            #expect(mine == Array(0..<Int64(perWriter)), "writer \(w)'s events keep their order")
        }
        #expect(try await store.version(of: eid("account:1")) == Int64(total))
        #expect(store.commits.head == Int64(total))
    }

    @Test(arguments: Backend.all)
    func concurrentAppendsAtOneExpectedVersionHaveExactlyOneWinner(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        _ = try await store.append([try draft("account:2")])
        let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    do {
                        _ = try await store.append([try draft("account:2", expected: .exact(1))])
                        return true
                    } catch let c as VersionConflict {
                        #expect(c.actual == 2)
                        return false
                    }
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(wins == 1)
        #expect(try await store.version(of: eid("account:2")) == 2)
    }

    @Test(arguments: Backend.all)
    func theFeedAndTheStreamsPage(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        for i in 0..<10 { _ = try await store.append([try draft(i % 2 == 0 ? "a:1" : "b:1")]) }
        #expect(try await store.events(afterPosition: 4, limit: 3).map(\.position) == [5, 6, 7])
        #expect(try await store.events(afterPosition: 8, limit: 100).map(\.position) == [9, 10])
        #expect(try await store.events(afterPosition: 10, limit: 100).isEmpty)
        #expect(try await store.events(afterPosition: 0, limit: 0).isEmpty)
        #expect(try await store.events(afterPosition: 0, limit: 100).count == 10)
        let stream = try await store.events(entity: eid("b:1"), fromSequence: 3, limit: 10)
        #expect(stream.map(\.sequence) == [3, 4, 5])
        #expect(stream.map(\.position) == [6, 8, 10])
        #expect(try await store.events(entity: eid("b:1"), fromSequence: 2, limit: 2).map(\.sequence) == [2, 3])
        #expect(try await store.events(entity: eid("b:1"), fromSequence: 6, limit: 10).isEmpty)
        #expect(try await store.events(entity: eid("c:1"), fromSequence: 1, limit: 10).isEmpty)
    }

    @Test(arguments: Backend.all)
    func theCommitSignalAdvancesOnCommitsThatStoreEventsAndWakesWaiters(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        #expect(store.commits.head == 0)
        _ = try await store.append([try draft("a:1"), try draft("a:1")])
        #expect(store.commits.head == 2)
        _ = try? await store.append([try draft("a:1", expected: .noStream)])
        try await store.save(Snapshot(entity: eid("a:1"), version: 2, state: RawJSON(["n": 2])))
        #expect(store.commits.head == 2, "neither a refused append nor a write without events advances it")
        let started = ContinuousClock.now
        // The deadline is far beyond any scheduling delay of a loaded test run, so finishing well before it
        // means the commit woke the waiter.
        async let woken = store.commits.wait(after: 2, timeout: .seconds(120))
        try await Task.sleep(for: .milliseconds(20))
        _ = try await store.append([try draft("b:1")])
        #expect(await woken == 3)
        #expect(ContinuousClock.now - started < .seconds(60), "woken by the commit, not the deadline")
    }

    @Test(arguments: Backend.all)
    func knownVersionsAreNeverAheadOfTheStore(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let a = try eid("a:1")
        #expect((store.knownVersion(of: a) ?? 0) == 0)
        _ = try await store.append([try draft("a:1"), try draft("a:1"), try draft("a:1")])
        #expect(store.knownVersion(of: a) == 3, "the writer knows what it just committed")
        _ = try? await store.append([try draft("a:1", expected: .exact(0))])
        #expect(store.knownVersion(of: a) == 3)
        #expect(try await store.version(of: eid("b:1")) == 0)
        #expect((store.knownVersion(of: try eid("b:1")) ?? 0) == 0)
    }

    @Test(arguments: Backend.all)
    func derivedIdsAreDeterministicPerStoreAndSecretBetweenStores(_ backend: Backend) async throws {
        let (first, second) = (try await backend.open(), try await backend.open())
        defer { first.close(); second.close() }
        let (one, other) = (first.store, second.store)
        let id = one.idDerivation.commandId(event: "c1", dispatcher: "d", index: 0)
        #expect(one.idDerivation.commandId(event: "c1", dispatcher: "d", index: 0) == id)
        #expect(one.idDerivation.commandId(event: "c1", dispatcher: "d", index: 1) != id)
        #expect(other.idDerivation.commandId(event: "c1", dispatcher: "d", index: 0) != id, "each store has its own key")
        #expect(Array(id)[14] == "8", "a UUIDv8")
    }

    // MARK: Command log

    @Test(arguments: Backend.all)
    func submittedCommandsArePendingInAcceptanceOrderAndResubmittingIsIdempotent(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let before = Timestamp.now()
        let first = try await store.submit([try commandDraft("c1", payload: ["amount": 1, "note": "x"]), try commandDraft("c2", entity: "account:2")])
        try #require(first.count == 2)
        #expect(first.allSatisfy { $0.isNew })
        #expect(first[1].seq == first[0].seq + 1)
        let r = first[0].record
        #expect(r.id == "c1" && r.entity == account1 && r.type == "Deposit" && r.status == .pending && r.attempts == 0)
        #expect(r.lastError == nil && r.resultEventIds.isEmpty && r.createdAt == r.updatedAt && r.createdAt >= before)
        #expect(try await store.command(id: "c1") == r)
        #expect(try await store.command(id: "nope") == nil)
        // The same command again (payload members in another order, other cause fields): the stored record.
        let replay = try await store.submit([try commandDraft("c1", payload: ["note": "x", "amount": 1], causedBy: "other", correlationId: "z")])
        #expect(replay.map(\.isNew) == [false])
        #expect(replay.first?.record == r)
        // Twice in one batch: logged once.
        let twice = try await store.submit([try commandDraft("c3"), try commandDraft("c3")])
        #expect(twice.map(\.isNew) == [true, false])
        #expect(twice.last?.record == twice.first?.record)
        let pending = try await store.pendingCommands(afterSeq: 0, limit: 100)
        #expect(pending.map(\.record.id) == ["c1", "c2", "c3"])
        #expect(pending.map(\.seq) == [first[0].seq, first[1].seq, twice[0].seq])
    }

    @Test(arguments: Backend.all)
    func aCommandIdReusedForAnotherCommandIsAConflictAndNothingOfTheBatchIsLogged(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        _ = try await store.submit([try commandDraft("c1", payload: ["amount": 1])])
        let payload = try await #require(throws: IdempotencyConflict.self) {
            try await store.submit([try commandDraft("c-new"), try commandDraft("c1", payload: ["amount": 2])])
        }
        #expect(
            payload
                == IdempotencyConflict(
                    kind: .command, id: "c1", storedEntity: try eid("account:1"), storedType: "Deposit", index: 1, differentPayload: true))
        let entity = try await #require(throws: IdempotencyConflict.self) {
            try await store.submit([try commandDraft("c1", entity: "account:9", payload: ["amount": 1])])
        }
        #expect(entity.kind == .command && !entity.differentPayload && entity.storedEntity == account1)
        let type = try await #require(throws: IdempotencyConflict.self) {
            try await store.submit([try commandDraft("c1", type: "Withdraw", payload: ["amount": 1])])
        }
        #expect(type.storedType == "Deposit" && !type.differentPayload)
        #expect(try await store.command(id: "c-new") == nil)
        #expect(try await store.pendingCommands(afterSeq: 0, limit: 100).map(\.record.id) == ["c1"])
    }

    @Test(arguments: Backend.all)
    func pendingCommandsPageInAcceptanceOrderWithoutFinishedOnes(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        var records: [CommandRecord] = []
        for i in 0..<6 { records += try await store.submit([try commandDraft("c\(i)", entity: "account:\(i % 2)")]).map(\.record) }
        _ = try committed(try await store.complete(completion(records[1])))
        _ = try await store.recordFailure(records[3], status: .dead, attempts: 1, error: "boom")
        let all = try await store.pendingCommands(afterSeq: 0, limit: 100)
        #expect(all.map(\.record.id) == ["c0", "c2", "c4", "c5"])
        #expect(zip(all, all.dropFirst()).allSatisfy { $0.seq < $1.seq })
        let page = try await store.pendingCommands(afterSeq: all[0].seq, limit: 2)
        #expect(page.map(\.record.id) == ["c2", "c4"])
        #expect(try await store.pendingCommands(afterSeq: all[3].seq, limit: 100).isEmpty)
    }

    @Test(arguments: Backend.all)
    func recordedFailuresMoveACommandOnAndAFinishedOneStaysAsItIs(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let record = try #require(try await store.submit([try commandDraft("c1")]).first?.record)
        let retry = try await store.recordFailure(record, status: .pending, attempts: 1, error: "try again")
        #expect(retry.status == .pending && retry.attempts == 1 && retry.lastError == "try again")
        #expect(try await store.command(id: "c1") == retry)
        #expect(try await store.pendingCommands(afterSeq: 0, limit: 10).map(\.record.attempts) == [1])
        let dead = try await store.recordFailure(retry, status: .dead, attempts: 2, error: "gave up")
        #expect(dead.status == .dead && dead.attempts == 2 && dead.lastError == "gave up")
        #expect(try await store.pendingCommands(afterSeq: 0, limit: 10).isEmpty)
        #expect(try await store.deadCommands(limit: 10) == [dead])
        // A failure recorded for a command that finished meanwhile: the stored record, unchanged.
        let late = try await store.recordFailure(retry, status: .pending, attempts: 3, error: "late")
        #expect(late == dead)
        #expect(try await store.command(id: "c1") == dead)
    }

    @Test(arguments: Backend.all)
    func aFailureOfACommandThatIsNotLoggedYetLogsIt(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        _ = try await store.submit([try commandDraft("c0")])
        let unlogged = try commandDraft("c1", causedBy: "evt-x").record(at: .now())
        let failed = try await store.recordFailure(unlogged, status: .pending, attempts: 1, error: "retry me")
        #expect(failed.status == .pending && failed.attempts == 1 && failed.lastError == "retry me")
        #expect(try await store.command(id: "c1") == failed)
        #expect(try await store.pendingCommands(afterSeq: 0, limit: 10).map(\.record.id) == ["c0", "c1"])
        #expect(try await store.items(causedBy: "evt-x", limit: 10).map(\.id) == ["c1"])
        let deadOnArrival = try commandDraft("c2").record(at: .now())
        _ = try await store.recordFailure(deadOnArrival, status: .dead, attempts: 1, error: "rejected")
        #expect(try await store.command(id: "c2")?.status == .dead)
        // Its id taken by another (finished) command: refused.
        let other = try commandDraft("c2", entity: "account:7").record(at: .now())
        await #expect(throws: IdempotencyConflict.self) { try await store.recordFailure(other, status: .dead, attempts: 1, error: "x") }
        #expect(try await store.command(id: "c2")?.entity == account1)
    }

    @Test(arguments: Backend.all)
    func aFailureRecordedForAnotherCommandUnderAPendingCommandsIdChangesNothing(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let pending = try await store.submit([try commandDraft("x")])[0].record
        // Another command (another entity) under the same id fails: it must not touch the pending one.
        let other = try commandDraft("x", entity: "account:7").record(at: .now())
        await #expect(throws: IdempotencyConflict.self) { try await store.recordFailure(other, status: .dead, attempts: 1, error: "B failed") }
        let stored = try #require(try await store.command(id: "x"))
        #expect(stored.status == .pending)
        #expect(stored.lastError == nil)
        #expect(stored.entity == pending.entity)
    }

    @Test(arguments: Backend.all)
    func aCompletionCommitsEventsResultAndSnapshotTogether(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let record = try #require(try await store.submit([try commandDraft("c1")]).first?.record)
        let (done, events) = try committed(
            try await store.complete(completion(record, attempts: 2, events: 2, snapshot: ["balance": 2])))
        #expect(done.status == .succeeded && done.attempts == 2 && done.lastError == nil)
        #expect(done.resultEventIds == ["c1-e0", "c1-e1"])
        #expect(events.map(\.id) == done.resultEventIds)
        #expect(events.map(\.sequence) == [1, 2] && events.map(\.position) == [1, 2])
        #expect(events.allSatisfy { $0.causationId == "c1" && $0.causationKind == .command })
        #expect(try await store.command(id: "c1") == done)
        #expect(try await store.events(afterPosition: 0, limit: 10) == events)
        #expect(try await store.snapshot(of: record.entity) == Snapshot(entity: record.entity, version: 2, state: RawJSON(["balance": 2])))
        #expect(store.knownVersion(of: record.entity) == 2)
        #expect(store.commits.head == 2)
        #expect(try await store.pendingCommands(afterSeq: 0, limit: 10).isEmpty)
        // Completed again (another instance of it ran): nothing is written; the stored record answers.
        let again = try await store.complete(completion(record, attempts: 3, events: 1, expectedVersion: 2, snapshot: ["balance": 9]))
        guard case .alreadyFinal(let stored) = again else {
            Issue.record("expected alreadyFinal, got \(again)")
            return
        }
        #expect(stored == done)
        #expect(try await store.headPosition() == 2)
        #expect(try await store.snapshot(of: record.entity)?.version == 2)
    }

    @Test(arguments: Backend.all)
    func aCompletionAtAStaleVersionWritesNothing(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let record = try #require(try await store.submit([try commandDraft("c1")]).first?.record)
        _ = try await store.append([try draft("account:1", id: "meanwhile")])
        let conflict = try await #require(throws: VersionConflict.self) {
            try await store.complete(completion(record, events: 2, expectedVersion: 0, snapshot: ["balance": 1]))
        }
        #expect(conflict == VersionConflict(entity: record.entity, expected: .exact(0), actual: 1, index: 0))
        #expect(try await store.command(id: "c1") == record, "still pending, untouched")
        #expect(try await store.headPosition() == 1)
        #expect(try await store.snapshot(of: record.entity) == nil)
        // An unlogged command refused the same way is not logged either.
        let unlogged = try commandDraft("c2").record(at: .now())
        await #expect(throws: VersionConflict.self) { try await store.complete(completion(unlogged, isLogged: false, expectedVersion: 0)) }
        #expect(try await store.command(id: "c2") == nil)
    }

    @Test(arguments: Backend.all)
    func aCompletionRefusesAnEventIdThatIsAlreadyStored(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let record = try #require(try await store.submit([try commandDraft("c1")]).first?.record)
        // The very event the command would write (same id, entity and type): still not the command's result.
        _ = try await store.append([
            NewEvent(id: "c1-e1", entity: record.entity, type: "Deposited", payload: RawJSON(["i": 1]))
        ])
        let taken = try await #require(throws: IdempotencyConflict.self) {
            try await store.complete(completion(record, events: 2, expectedVersion: 1, snapshot: ["balance": 1]))
        }
        #expect(taken.kind == .event && taken.id == "c1-e1" && taken.index == 1)
        #expect(try await store.command(id: "c1")?.status == .pending, "nothing of the commit was written")
        #expect(try await store.headPosition() == 1)
        #expect(try await store.event(id: "c1-e0") == nil)
        #expect(try await store.snapshot(of: record.entity) == nil)
    }

    @Test(arguments: Backend.all)
    func aCompletionLogsACommandThatIsNotLoggedYet(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        _ = try await store.submit([try commandDraft("c0", entity: "account:0")])
        let unlogged = try commandDraft("c1", causedBy: "evt-x").record(at: .now())
        let (done, events) = try committed(try await store.complete(completion(unlogged, isLogged: false, snapshot: ["balance": 1])))
        #expect(done.status == .succeeded && done.createdAt == unlogged.createdAt)
        #expect(events.map(\.sequence) == [1])
        #expect(try await store.command(id: "c1") == done)
        #expect(try await store.traceItem(id: "c1") == .command(done))
        #expect(try await store.items(causedBy: "evt-x", limit: 10).map(\.id) == ["c1"])
        #expect(try await store.pendingCommands(afterSeq: 0, limit: 10).map(\.record.id) == ["c0"])
        // The log's later commands come after it.
        let later = try await store.submit([try commandDraft("c2")])
        let c0 = try await store.pendingCommands(afterSeq: 0, limit: 10)
        #expect(later.first.map(\.seq) ?? 0 > (c0.first?.seq ?? .max) + 1, "the completed command took a seq of its own")
    }

    @Test(arguments: Backend.all)
    func aCompletionSaidToBeUnloggedFinishesTheLoggedCommandOrRefusesAnotherOne(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let logged = try #require(try await store.submit([try commandDraft("c1", payload: ["amount": 5])]).first?.record)
        // Its waiter gave up and logged it; the running instance still thinks it unlogged.
        var unlogged = try commandDraft("c1", payload: ["amount": 5]).record(at: Timestamp(millisecondsSinceEpoch: 1))
        unlogged.attempts = 0
        let (done, _) = try committed(try await store.complete(completion(unlogged, isLogged: false)))
        #expect(done.status == .succeeded)
        #expect(done.createdAt == logged.createdAt, "the log's creation time is kept")
        #expect(try await store.command(id: "c1")?.status == .succeeded)
        // Another command under a logged id: refused, nothing written.
        _ = try await store.submit([try commandDraft("c2", payload: ["amount": 1])])
        let other = try commandDraft("c2", payload: ["amount": 2]).record(at: .now())
        let conflict = try await #require(throws: IdempotencyConflict.self) {
            try await store.complete(completion(other, isLogged: false, expectedVersion: 1))
        }
        #expect(conflict.kind == .command && conflict.differentPayload)
        #expect(try await store.command(id: "c2")?.status == .pending)
        #expect(try await store.headPosition() == 1)
    }

    @Test(arguments: Backend.all)
    func deadCommandsComeMostRecentFirstAndReviveAsPending(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        var records: [CommandRecord] = []
        for i in 0..<4 { records += try await store.submit([try commandDraft("c\(i)")]).map(\.record) }
        for i in [2, 0, 1] {
            _ = try await store.recordFailure(records[i], status: .dead, attempts: 5, error: "dead \(i)")
            try await Task.sleep(for: .milliseconds(3))  // distinct update times
        }
        _ = try await store.recordFailure(records[3], status: .failed, attempts: 1, error: "rejected")
        #expect(try await store.deadCommands(limit: 10).map(\.id) == ["c1", "c0", "c2"])
        #expect(try await store.deadCommands(limit: 2).map(\.id) == ["c1", "c0"])
        let revived = try #require(try await store.revive(commandId: "c0"))
        #expect(revived.status == .pending && revived.attempts == 0)
        #expect(try await store.command(id: "c0") == revived)
        #expect(try await store.revive(commandId: "c3")?.status == .pending, "a failed command revives too")
        #expect(try await store.pendingCommands(afterSeq: 0, limit: 10).map(\.record.id) == ["c0", "c3"], "in acceptance order")
        #expect(try await store.deadCommands(limit: 10).map(\.id) == ["c1", "c2"])
        // Reviving a pending command changes nothing; an unknown one is nil.
        #expect(try await store.revive(commandId: "c0") == revived)
        #expect(try await store.revive(commandId: "nope") == nil)
    }

    // MARK: Snapshots, cursors, dispatch, functions

    @Test(arguments: Backend.all)
    func aSnapshotIsSavedOnlyWhenItIsNewer(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let a = try eid("acct:1")
        #expect(try await store.snapshot(of: a) == nil)
        let v2 = Snapshot(entity: a, version: 2, state: RawJSON(["n": 2]), schemaId: 4)
        try await store.save(v2)
        #expect(try await store.snapshot(of: a) == v2)
        try await store.save(Snapshot(entity: a, version: 1, state: RawJSON(["n": 1])))
        try await store.save(Snapshot(entity: a, version: 2, state: RawJSON(["n": 99])))
        #expect(try await store.snapshot(of: a) == v2, "older and equal versions leave it")
        let v3 = Snapshot(entity: a, version: 3, state: .null)
        try await store.save(v3)
        #expect(try await store.snapshot(of: a) == v3)
        #expect(try await store.snapshot(of: eid("acct:2")) == nil)
    }

    @Test(arguments: Backend.all)
    func cursorsAreSetMovedAndRemoved(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        #expect(try await store.cursor("kafka") == nil)
        try await store.setCursor("kafka", to: 10)
        try await store.setCursor("dispatch:a", to: 3)
        #expect(try await store.cursor("kafka") == 10)
        try await store.setCursor("kafka", to: 4)
        #expect(try await store.cursor("kafka") == 4, "a cursor is set, not raised")
        try await store.removeCursor("kafka")
        #expect(try await store.cursor("kafka") == nil)
        #expect(try await store.cursor("dispatch:a") == 3)
    }

    @Test(arguments: Backend.all)
    func aDispatchStepCommitsCommandsDeadDispatchesAndCursorTogetherAndARedoAddsNothing(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let dead = DeadDispatch(
            id: "dd-1", dispatcher: "a", eventId: "evt-1", attempts: 5, lastError: "boom", createdAt: Timestamp(millisecondsSinceEpoch: 1000))
        let step = DispatchCommit(
            cursorName: "dispatch:a", position: 7,
            commands: [try commandDraft("d1", causedBy: "evt-1"), try commandDraft("d2", entity: "account:2", causedBy: "evt-1")],
            deadDispatches: [dead])
        let new = try await store.commit(step)
        #expect(new.map(\.id) == ["d1", "d2"])
        #expect(new.allSatisfy { $0.status == .pending && $0.causationId == "evt-1" && $0.causationKind == .event })
        #expect(try await store.cursor("dispatch:a") == 7)
        #expect(try await store.deadDispatch(id: "dd-1") == dead)
        #expect(try await store.pendingCommands(afterSeq: 0, limit: 10).map(\.record) == new)
        // The step redone after a crash: the same ids, nothing new.
        #expect(try await store.commit(step).isEmpty)
        #expect(try await store.pendingCommands(afterSeq: 0, limit: 10).count == 2)
        // Parked again: attempts and error change; dispatcher, event and time stay.
        var again = dead
        again.attempts = 6
        again.lastError = "boom again"
        again.dispatcher = "b"
        again.createdAt = Timestamp(millisecondsSinceEpoch: 5000)
        _ = try await store.commit(DispatchCommit(cursorName: "", position: 0, commands: [], deadDispatches: [again]))
        #expect(
            try await store.deadDispatch(id: "dd-1")
                == DeadDispatch(id: "dd-1", dispatcher: "a", eventId: "evt-1", attempts: 6, lastError: "boom again", createdAt: dead.createdAt))
        #expect(try await store.cursor("dispatch:a") == 7, "an empty cursor name moves no cursor")
    }

    @Test(arguments: Backend.all)
    func aDispatchStepWithAConflictingCommandWritesNothing(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        _ = try await store.submit([try commandDraft("taken", payload: ["amount": 1])])
        try await store.setCursor("dispatch:a", to: 3)
        let step = DispatchCommit(
            cursorName: "dispatch:a", position: 9, commands: [try commandDraft("d1"), try commandDraft("taken", payload: ["amount": 2])],
            deadDispatches: [DeadDispatch(id: "dd-1", dispatcher: "a", eventId: "e", attempts: 1, lastError: "x", createdAt: .now())])
        let conflict = try await #require(throws: IdempotencyConflict.self) { try await store.commit(step) }
        #expect(conflict.id == "taken" && conflict.index == 1 && conflict.differentPayload)
        #expect(try await store.command(id: "d1") == nil)
        #expect(try await store.cursor("dispatch:a") == 3)
        #expect(try await store.deadDispatch(id: "dd-1") == nil)
    }

    @Test(arguments: Backend.all)
    func deadDispatchesComeMostRecentFirstAndCanBeRemoved(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let dispatches = (0..<3).map { i in
            DeadDispatch(
                id: "dd-\(i)", dispatcher: "a", eventId: "e\(i)", attempts: 1, lastError: "x",
                createdAt: Timestamp(millisecondsSinceEpoch: [2000, 3000, 1000][i]))
        }
        _ = try await store.commit(DispatchCommit(cursorName: "", position: 0, commands: [], deadDispatches: dispatches))
        #expect(try await store.deadDispatches(limit: 10).map(\.id) == ["dd-1", "dd-0", "dd-2"])
        #expect(try await store.deadDispatches(limit: 1).map(\.id) == ["dd-1"])
        try await store.removeDeadDispatch(id: "dd-1")
        try await store.removeDeadDispatch(id: "nope")
        #expect(try await store.deadDispatch(id: "dd-1") == nil)
        #expect(try await store.deadDispatches(limit: 10).map(\.id) == ["dd-0", "dd-2"])
    }

    /// A function's error text may hold U+0000, which PostgreSQL's text refuses: it is stored (NUL shown as
    /// U+FFFD there), and the writes around it go through (before: the failure could not be recorded at all,
    /// the command retried for ever, and every write in its group commit failed with it).
    @Test(arguments: Backend.all)
    func errorTextHoldingNULIsStoredAndTheWritesBesideItGoThrough(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let submitted = try await store.submit([try commandDraft("c0"), try commandDraft("c1", entity: "account:2")])
        async let failed = store.recordFailure(submitted[0].record, status: .dead, attempts: 1, error: "bad\u{0}byte")
        async let other = store.recordFailure(submitted[1].record, status: .pending, attempts: 1, error: "fine")
        let (dead, pending) = try await (failed, other)
        #expect(dead.status == .dead && pending.status == .pending && pending.lastError == "fine")
        let text = try #require(dead.lastError)
        #expect(text.hasPrefix("bad") && text.hasSuffix("byte") && text.count == 8, "\(text)")
        #expect(try await store.command(id: "c0") == dead, "what the caller is told is what is stored")
        #expect(try await store.command(id: "c1") == pending)

        let dispatch = DeadDispatch(id: "dd-nul", dispatcher: "a", eventId: "e", attempts: 1, lastError: "x\u{0}y", createdAt: .now())
        _ = try await store.commit(DispatchCommit(cursorName: "", position: 0, commands: [], deadDispatches: [dispatch]))
        let storedDispatch = try #require(try await store.deadDispatch(id: "dd-nul"))
        #expect(storedDispatch.lastError.hasPrefix("x") && storedDispatch.lastError.hasSuffix("y"))
    }

    @Test(arguments: Backend.all)
    func theFunctionCatalogueKeepsDefinitionsByName(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        #expect(try await store.functionDefinitions().isEmpty)
        for name in ["transfer", "Savings", "checking"] { try await store.saveFunction(name: name, definition: RawJSON(["name": .string(name)])) }
        try await store.saveFunction(name: "checking", definition: RawJSON(["name": "checking", "v": 2]))
        let all = try await store.functionDefinitions()
        #expect(all.map(\.name) == ["Savings", "checking", "transfer"], "in byte order")
        #expect(try all.first { $0.name == "checking" }?.definition.value() == ["name": "checking", "v": 2])
        #expect(try await store.deleteFunction(name: "checking"))
        #expect(try await !store.deleteFunction(name: "checking"))
        #expect(try await store.functionDefinitions().map(\.name) == ["Savings", "transfer"])
    }

    // MARK: Trace index

    @Test(arguments: Backend.all)
    func theTraceIndexFindsItemsByIdAndByCause(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        _ = try await store.append([try draft("a:1", id: "root")])
        _ = try await store.append([try draft("a:1", id: "child-1", causedBy: "root")])
        _ = try await store.submit([try commandDraft("cmd-1", causedBy: "root")])
        _ = try await store.append([try draft("b:1", id: "child-2", causedBy: "root"), try draft("b:1", id: "child-3", causedBy: "child-1")])
        _ = try await store.commit(
            DispatchCommit(cursorName: "d", position: 4, commands: [try commandDraft("cmd-2", entity: "account:2", causedBy: "root")], deadDispatches: []))
        #expect(try await store.traceItem(id: "root")?.kind == .event)
        #expect(try await store.traceItem(id: "cmd-1")?.kind == .command)
        #expect(try await store.traceItem(id: "nope") == nil)
        let children = try await store.items(causedBy: "root", limit: 10)
        #expect(children.filter { $0.kind == .event }.map(\.id) == ["child-1", "child-2"], "events in position order")
        #expect(children.filter { $0.kind == .command }.map(\.id) == ["cmd-1", "cmd-2"], "commands in acceptance order")
        #expect(children.count == 4)
        #expect(try await store.items(causedBy: "child-1", limit: 10).map(\.id) == ["child-3"])
        #expect(try await store.items(causedBy: "child-3", limit: 10).isEmpty)
        #expect(try await store.items(causedBy: "root", limit: 1).filter { $0.kind == .event }.map(\.id) == ["child-1"])
    }

    // MARK: Schema registry

    @Test(arguments: Backend.all)
    func theSchemaRegistryRecordsPersistAndAFailedSaveSavesNothing(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let empty = try await store.loadRegistry()
        #expect(empty.schemas.isEmpty && empty.versions.isEmpty && empty.aggregates.isEmpty && empty.compatibility.isEmpty && empty.files.isEmpty)
        try await store.saveRegistry(
            schemas: [.init(id: 2, key: "k2", text: "{\"type\":\"int\"}"), .init(id: 1, key: "k1", text: "\"string\"")],
            versions: [.init(subject: "b-value", version: 1, schemaId: 2), .init(subject: "a-value", version: 1, schemaId: 1)],
            aggregate: .init(aggregate: "account", version: 1, definition: "{}"))
        try await store.saveRegistry(
            schemas: [], versions: [.init(subject: "a-value", version: 2, schemaId: 2)],
            aggregate: .init(aggregate: "account", version: 2, definition: "{\"v\":2}"))
        // One taken schema id: none of this save is kept.
        await #expect(throws: (any Error).self) {
            try await store.saveRegistry(
                schemas: [.init(id: 3, key: "k3", text: "\"long\""), .init(id: 1, key: "k1b", text: "\"bytes\"")],
                versions: [.init(subject: "c-value", version: 1, schemaId: 3)], aggregate: .init(aggregate: "ledger", version: 1, definition: "{}"))
        }
        await #expect(throws: (any Error).self) {
            try await store.saveRegistry(schemas: [], versions: [.init(subject: "a-value", version: 2, schemaId: 1)], aggregate: nil)
        }
        try await store.setCompatibility("BACKWARD", subject: "")
        try await store.setCompatibility("NONE", subject: "a-value")
        try await store.setCompatibility("FULL", subject: "b-value")
        try await store.setCompatibility(nil, subject: "b-value")
        try await store.setSchemaFile(aggregate: "account", hash: "aa")
        try await store.setSchemaFile(aggregate: "account", hash: "bb")
        let r = try await store.loadRegistry()
        #expect(r.schemas == [.init(id: 1, key: "k1", text: "\"string\""), .init(id: 2, key: "k2", text: "{\"type\":\"int\"}")])
        #expect(
            r.versions == [
                .init(subject: "a-value", version: 1, schemaId: 1), .init(subject: "a-value", version: 2, schemaId: 2),
                .init(subject: "b-value", version: 1, schemaId: 2),
            ])
        #expect(r.aggregates == [.init(aggregate: "account", version: 1, definition: "{}"), .init(aggregate: "account", version: 2, definition: "{\"v\":2}")])
        #expect(r.compatibility == ["": "BACKWARD", "a-value": "NONE"])
        #expect(r.files == ["account": "bb"])
    }

    // MARK: Closing, reopening, crashing

    @Test(arguments: Backend.all)
    func aClosedStoreTakesNoMoreWrites(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        _ = try await opened.store.append([try draft("a:1")])
        await opened.store.close()
        await #expect(throws: (any Error).self) { try await opened.store.append([try draft("a:1")]) }
        await #expect(throws: (any Error).self) { try await opened.store.submit([try commandDraft("c1")]) }
    }

    @Test(arguments: Backend.durable)
    func everythingCommittedIsThereAfterAReopenAndDerivedIdsStayTheSame(_ backend: Backend) async throws {
        let opened = try await backend.open()
        let written = try await Self.writeSomethingOfEverything(to: opened.store)
        let reopened = try await backend.reopen(opened)
        defer { reopened.close() }
        try await Self.expectEverything(written, in: reopened.store)
    }

    @Test(arguments: Backend.crashable)
    func everythingAnsweredIsThereAfterACrash(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let written = try await Self.writeSomethingOfEverything(to: opened.store)
        let crashCopy = try #require(backend.crashCopy)
        let crashed = try crashCopy(opened)
        defer { crashed.close() }
        try await Self.expectEverything(written, in: crashed.store)
    }

    /// What `writeSomethingOfEverything` wrote, to look for after a reopen.
    struct Written {
        var events: [EventEnvelope]
        var commands: [CommandRecord]
        var pending: [(seq: Int64, record: CommandRecord)]
        var derivedId: String
    }

    static func writeSomethingOfEverything(to store: any EventoStorage) async throws -> Written {
        let appended = try await store.append([try draft("a:1", payload: ["x": "y"]), try draft("a:1"), try draft("b:1")])
        let submitted = try await store.submit([try commandDraft("c1"), try commandDraft("c2", entity: "account:2")]).map(\.record)
        let (done, events) = try committed(try await store.complete(completion(submitted[0], snapshot: ["balance": 1])))
        _ = try await store.commit(
            DispatchCommit(
                cursorName: "dispatch:a", position: 4, commands: [try commandDraft("d1", causedBy: appended.events[0].id)],
                deadDispatches: [DeadDispatch(id: "dd", dispatcher: "a", eventId: "e", attempts: 1, lastError: "x", createdAt: .now())]))
        try await store.saveFunction(name: "f", definition: RawJSON(["name": "f"]))
        try await store.saveRegistry(schemas: [.init(id: 1, key: "k", text: "\"int\"")], versions: [], aggregate: nil)
        return Written(
            events: appended.events + events, commands: [done, submitted[1]],
            pending: try await store.pendingCommands(afterSeq: 0, limit: 100),
            derivedId: store.idDerivation.commandId(event: "c", dispatcher: "d", index: 0))
    }

    static func expectEverything(_ written: Written, in store: any EventoStorage) async throws {
        #expect(try await store.events(afterPosition: 0, limit: 100) == written.events)
        #expect(try await store.headPosition() == Int64(written.events.count))
        #expect(store.commits.head == Int64(written.events.count))
        #expect(try await store.version(of: eid("a:1")) == 2)
        for c in written.commands { #expect(try await store.command(id: c.id) == c) }
        let pending = try await store.pendingCommands(afterSeq: 0, limit: 100)
        #expect(pending.map(\.seq) == written.pending.map(\.seq) && pending.map(\.record) == written.pending.map(\.record))
        #expect(try await store.snapshot(of: eid("account:1"))?.version == 1)
        #expect(try await store.cursor("dispatch:a") == 4)
        #expect(try await store.deadDispatch(id: "dd") != nil)
        #expect(try await store.functionDefinitions().map(\.name) == ["f"])
        #expect(try await store.loadRegistry().schemas.map(\.key) == ["k"])
        #expect(store.idDerivation.commandId(event: "c", dispatcher: "d", index: 0) == written.derivedId, "the id key is kept")
        // And it goes on where it stopped.
        let next = try await store.append([try draft("a:1", expected: .exact(2))])
        #expect(next.events.map(\.sequence) == [3])
        #expect(next.events.map(\.position) == [Int64(written.events.count) + 1])
        let c3 = try await store.submit([try commandDraft("c3")])
        #expect((c3.first?.seq ?? 0) > (pending.last?.seq ?? .max))
    }
}
