import CoreMetrics
import EventoCore
import Synchronization

/// Everything Evento keeps, in memory: a complete backend with exactly the SQLite store's semantics, for
/// fast unit tests and as a reference implementation of the store protocols.
///
/// All state sits behind one `Mutex`, so every call is atomic and calls are serialised, as the SQLite
/// store's single writer serialises writes. A write first checks everything that can refuse it (expected
/// versions, ids already taken) without touching the state, then applies itself; a call that throws has
/// written nothing. Positions, sequences and command seqs are array indexes, so they are gapless.
///
/// Nothing survives the instance: there is no reopening, and each instance derives ids under a random key
/// of its own.
public final class InMemoryStore: EventoStorage {
    /// Advances on every commit that wrote events.
    public let commits = CommitSignal()
    /// Derives ids under this instance's random key.
    public let idDerivation = IdDerivation(key: IdDerivation.newKey())
    let state = Mutex(State())

    public init() {}

    /// Releases nothing (there is nothing to release) but, like the SQLite store, makes the store unusable:
    /// every later call throws.
    public func close() async {
        state.withLock { $0.closed = true }
    }

    /// Runs a write atomically; advances `commits` when it stored events.
    /// - Parameter body: must throw before it changes anything (check, then apply).
    func write<T: Sendable>(_ body: (inout State, Timestamp) throws -> T) throws -> T {
        let (result, head) = try state.withLock { s throws -> (T, Int64?) in
            try s.checkOpen()
            let before = s.events.count
            let result = try body(&s, .now())
            return (result, s.events.count > before ? Int64(s.events.count) : nil)
        }
        // Outside the lock: it resumes waiters. A later commit may have advanced it further already;
        // the signal never moves back.
        if let head { commits.advance(to: head) }
        return result
    }

    func read<T: Sendable>(_ body: (inout State) throws -> T) throws -> T {
        try state.withLock { s throws -> T in
            try s.checkOpen()
            return try body(&s)
        }
    }

    // MARK: Event log

    public func append(_ events: [NewEvent]) async throws -> AppendResult {
        guard !events.isEmpty else { return AppendResult(events: [], duplicates: 0) }
        return try write { s, now in
            let plan = try s.planAppend(events, replays: .answerStored, now: now)
            s.apply(plan)
            return AppendResult(events: plan.result, duplicates: plan.duplicates)
        }
    }

    public func event(id: String) async throws -> EventEnvelope? {
        try read { s in s.storedEvent(id: id) }
    }

    public func events(entity: EntityId, fromSequence: Int64, limit: Int) async throws -> [EventEnvelope] {
        try read { s in
            guard let stream = s.streams[entity.rawValue] else { return [] }
            let start = Int(clamping: max(fromSequence, 1) - 1)
            guard start < stream.count else { return [] }
            return State.limited(stream[start...], limit).map { s.events[$0] }
        }
    }

    public func events(afterPosition: Int64, limit: Int) async throws -> [EventEnvelope] {
        try read { s in
            let start = Int(clamping: max(afterPosition, 0))
            guard start < s.events.count else { return [] }
            return Array(State.limited(s.events[start...], limit))
        }
    }

    public func version(of entity: EntityId) async throws -> Int64 {
        try read { s in s.version(of: entity.rawValue) }
    }

    /// Every version is known here (nothing is ever read from elsewhere): the stream's version, 0 for an
    /// entity without events.
    public func knownVersion(of entity: EntityId) -> Int64? {
        state.withLock { s in s.version(of: entity.rawValue) }
    }

    public func headPosition() async throws -> Int64 {
        try read { s in Int64(s.events.count) }
    }

    // MARK: Trace index

    public func traceItem(id: String) async throws -> TraceItem? {
        try read { s in
            if let e = s.storedEvent(id: id) { return .event(e) }
            if let c = s.storedCommand(id: id) { return .command(c) }
            return nil
        }
    }

    /// As the SQLite store answers: the events caused by `id` in position order, then the commands in
    /// acceptance order, each kind limited to `limit`.
    public func items(causedBy id: String, limit: Int) async throws -> [TraceItem] {
        try read { s in
            let events = State.limited(s.eventsByCause[id] ?? [], limit).map { TraceItem.event(s.events[$0]) }
            let commands = State.limited(s.commandsByCause[id] ?? [], limit).map { TraceItem.command(s.commands[$0]) }
            return events + commands
        }
    }
}

extension InMemoryStore {
    /// Everything the store holds. Positions are `events` indexes + 1, command seqs `commands` indexes + 1:
    /// nothing is ever removed from either, so both stay gapless.
    struct State {
        var closed = false

        var events: [EventEnvelope] = []
        var eventIndex: [String: Int] = [:]
        /// Event indexes of each entity's stream; an event's sequence is its place here + 1.
        var streams: [String: [Int]] = [:]
        var eventsByCause: [String: [Int]] = [:]

        var commands: [CommandRecord] = []
        var commandIndex: [String: Int] = [:]
        var commandsByCause: [String: [Int]] = [:]

        var snapshots: [String: Snapshot] = [:]
        var cursors: [String: Int64] = [:]
        var deadDispatches: [String: DeadDispatch] = [:]
        var functions: [String: RawJSON] = [:]
        var registry = RegistryRecords()
        var projectors: [String: ProjectorState] = [:]
        /// "aggregate\u{0}field\u{0}value" → the entity holding it; "aggregate\u{0}field\u{0}entity" → its value.
        var uniqueValues: [String: String] = [:]
        var uniqueHeld: [String: String] = [:]
        /// View name → (projector, live generation).
        var views: [String: (projector: String, generation: Int64)] = [:]
        /// "view\u{0}generation" → key → document.
        var viewDocuments: [String: [String: JSONValue]] = [:]

        func checkOpen() throws {
            if closed { throw EventoError(.unavailable, "the store is closed") }
        }

        func version(of entity: String) -> Int64 { Int64(streams[entity]?.count ?? 0) }

        func storedEvent(id: String) -> EventEnvelope? { eventIndex[id].map { events[$0] } }

        func storedCommand(id: String) -> CommandRecord? { commandIndex[id].map { commands[$0] } }

        /// The first `limit` elements; all of them for a negative limit (as SQLite's `LIMIT -1`).
        static func limited<C: Collection>(_ c: C, _ limit: Int) -> C.SubSequence {
            limit < 0 ? c[...] : c.prefix(limit)
        }
    }

    /// What an append will store and answer, worked out before anything is written.
    struct AppendPlan {
        /// The answer, in request order: new envelopes and, for ids already stored, the stored ones.
        var result: [EventEnvelope] = []
        var duplicates = 0
        /// The envelopes to store, in position order.
        var new: [EventEnvelope] = []
    }
}

extension InMemoryStore.State {
    /// Checks an append and assigns sequences and positions, as the SQLite store's `append(_:in:replays:)`
    /// does: each event's expected version is checked against its stream just before it (earlier events
    /// of the batch included); an id already stored (or earlier in the batch) is answered with the stored
    /// event when it is the same entity and type, and is an `IdempotencyConflict` otherwise.
    ///
    /// - Parameter replays: `.refuse` for a command's own events: a stored one is never the command's result.
    /// - Throws: `VersionConflict`, `IdempotencyConflict`; the state is unchanged either way.
    func planAppend(_ batch: [NewEvent], replays: ReplayPolicy, now: Timestamp) throws -> InMemoryStore.AppendPlan {
        var plan = InMemoryStore.AppendPlan()
        plan.result.reserveCapacity(batch.count)
        var versions: [String: Int64] = [:]
        var newIndex: [String: Int] = [:]
        for (index, e) in batch.enumerated() {
            let entity = e.entity.rawValue
            let version = versions[entity] ?? self.version(of: entity)
            let stored = newIndex[e.id].map { plan.new[$0] } ?? storedEvent(id: e.id)
            if !e.expectedVersion.matches(version) {
                // A replay of a stored event is answered with the stored event, whatever the version now.
                if replays == .answerStored, let stored {
                    try Self.checkSame(e, stored, index: index)
                    plan.result.append(stored)
                    plan.duplicates += 1
                    continue
                }
                throw VersionConflict(entity: e.entity, expected: e.expectedVersion, actual: version, index: index)
            }
            if let stored {
                if replays == .refuse {
                    throw IdempotencyConflict(kind: .event, id: e.id, storedEntity: stored.entity, storedType: stored.type, index: index)
                }
                try Self.checkSame(e, stored, index: index)
                plan.result.append(stored)
                plan.duplicates += 1
                continue
            }
            let envelope = e.envelope(sequence: version + 1, position: Int64(events.count + plan.new.count + 1), fallbackTime: now)
            versions[entity] = version + 1
            newIndex[e.id] = plan.new.count
            plan.new.append(envelope)
            plan.result.append(envelope)
        }
        return plan
    }

    /// Throws when the stored event under `e`'s id is another event (another entity or type).
    static func checkSame(_ e: NewEvent, _ stored: EventEnvelope, index: Int) throws {
        guard stored.entity == e.entity, stored.type == e.type else {
            throw IdempotencyConflict(kind: .event, id: e.id, storedEntity: stored.entity, storedType: stored.type, index: index)
        }
    }

    mutating func apply(_ plan: InMemoryStore.AppendPlan) {
        for e in plan.new {
            let i = events.count
            events.append(e)
            eventIndex[e.id] = i
            streams[e.entity.rawValue, default: []].append(i)
            if let cause = e.causationId { eventsByCause[cause, default: []].append(i) }
            EventoMetrics.eventsAppended.increment()
        }
    }
}
