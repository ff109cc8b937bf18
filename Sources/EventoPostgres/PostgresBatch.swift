import CoreMetrics
import EventoCore
import PostgresNIO

/// The hot writes of a group — event appends, command submissions, command completions — done as a set:
/// a few reads of everything the group touches, each item decided in memory in order (exactly as it
/// would be alone), then one statement per table. A group of a hundred commands costs a dozen round trips
/// instead of six per command.
///
/// Deciding in memory is exact because the writer holds the feed row: every other writer (of any instance)
/// waits for it, and lease changes wait for it too, so nothing the group read changes until it commits.
enum FastWrite: Sendable {
    case append([NewEvent])
    case submit([NewCommand])
    case complete(CommandCompletion)

    enum Result: Sendable {
        case appended(AppendResult)
        case submitted([CommandSubmission])
        case completed(CompletionResult)
    }
}

/// What a group's fast items read, and what they decided so far.
struct FastState {
    var versions: [String: Int64] = [:]
    var commands: [String: CommandRecord] = [:]
    var commandSeqs: [String: Int64] = [:]
    var events: [String: EventEnvelope] = [:]
    var fences: [String: (owner: String, token: Int64)] = [:]
    var head: Int64

    // The writes, in order.
    var newCommands: [CommandRecord] = []
    var updatedCommands: [String: CommandRecord] = [:]
    var newEvents: [EventEnvelope] = []
    var snapshots: [String: Snapshot] = [:]
    var partitions: Set<Int> = []
    var finished: [String] = []
}

/// One item's decision: its changes are applied to the group's state only when it succeeds.
struct FastItem {
    var versions: [String: Int64] = [:]
    var commands: [String: CommandRecord] = [:]
    var events: [String: EventEnvelope] = [:]
    var head: Int64
    var newCommands: [CommandRecord] = []
    var updatedCommands: [String: CommandRecord] = [:]
    var newEvents: [EventEnvelope] = []
    var snapshots: [Snapshot] = []
    var partitions: Set<Int> = []
    var finished: [String] = []

    init(head: Int64) { self.head = head }

    func version(_ entity: String, _ s: FastState) -> Int64 { versions[entity] ?? s.versions[entity] ?? 0 }
    func command(_ id: String, _ s: FastState) -> CommandRecord? { commands[id] ?? s.commands[id] }
    func event(_ id: String, _ s: FastState) -> EventEnvelope? { events[id] ?? s.events[id] }

    func merge(into s: inout FastState) {
        s.versions.merge(versions) { _, new in new }
        s.commands.merge(commands) { _, new in new }
        s.events.merge(events) { _, new in new }
        s.head = head
        s.newCommands += newCommands
        s.updatedCommands.merge(updatedCommands) { _, new in new }
        s.newEvents += newEvents
        for snap in snapshots where (s.snapshots[snap.entity.rawValue]?.version ?? -1) < snap.version { s.snapshots[snap.entity.rawValue] = snap }
        s.partitions.formUnion(partitions)
        s.finished += finished
    }
}

extension PostgresWriter {
    /// Decides and writes a group's fast items; returns each one's outcome (its result, or its error).
    func commitFast(_ items: [FastWrite], tx: PostgresTransaction) async throws -> [Result<FastWrite.Result, any Error>] {
        var entities = Set<String>()
        var commandIds = Set<String>()
        var eventIds = Set<String>()
        var fences = Set<String>()
        for item in items {
            switch item {
            case .append(let events):
                for e in events {
                    entities.insert(e.entity.rawValue)
                    eventIds.insert(e.id)
                }
            case .submit(let commands):
                for c in commands { commandIds.insert(c.id) }
            case .complete(let c):
                entities.insert(c.command.entity.rawValue)
                commandIds.insert(c.command.id)
                for e in c.events { eventIds.insert(e.id) }
                if let f = c.fence { fences.insert(f.lease) }
            }
        }
        var state = FastState(head: tx.head)
        try await read(entities: entities, commands: commandIds, events: eventIds, fences: fences, into: &state, tx: tx)

        // Decide, in order.
        var decided: [Result<Decision, any Error>] = []
        decided.reserveCapacity(items.count)
        for item in items {
            var change = FastItem(head: state.head)
            do {
                let d = try decide(item, &change, state, now: tx.now, partitionCount: tx.partitionCount)
                change.merge(into: &state)
                decided.append(.success(d))
            } catch {
                decided.append(.failure(error))
            }
        }

        // Write.
        try await write(&state, tx: tx)
        tx.head = state.head
        for (entity, version) in state.versions where version > 0 { tx.versions[entity] = version }
        tx.commandPartitions.formUnion(state.partitions)
        tx.finished += state.finished
        if !state.newEvents.isEmpty { EventoMetrics.eventsAppended.increment(by: Int64(state.newEvents.count)) }

        return decided.map { r in
            r.map { d in
                switch d {
                case .appended(let a): .appended(a)
                case .completed(let c): .completed(c)
                case .submitted(let subs):
                    .submitted(subs.map { s in
                        var s = s
                        if s.isNew { s.seq = state.commandSeqs[s.record.id] ?? 0 }
                        return s
                    })
                }
            }
        }
    }

    typealias Decision = FastWrite.Result

    private func read(
        entities: Set<String>, commands: Set<String>, events: Set<String>, fences: Set<String>, into s: inout FastState, tx: PostgresTransaction
    ) async throws {
        if !entities.isEmpty {
            // The last sequence of each entity: one backward index step each (not a scan of its stream).
            let list = Array(entities)
            let rows = try await tx.query(
                """
                SELECT e, COALESCE((SELECT sequence FROM events WHERE entity = e ORDER BY sequence DESC LIMIT 1), 0)
                FROM unnest(\(list)::text[]) AS e
                """)
            for row in rows {
                let (entity, version) = try row.decode((String, Int64).self)
                s.versions[entity] = version
            }
        }
        if !commands.isEmpty {
            var b = PostgresBindings()
            b.append(Array(commands))
            let rows = try await tx.query(
                PostgresQuery(unsafeSQL: "SELECT \(PostgresRows.commandColumns) FROM commands WHERE id = ANY($1)", binds: b))
            for row in rows {
                let c = try PostgresRows.command(row)
                s.commands[c.id] = c
            }
        }
        if !events.isEmpty {
            var b = PostgresBindings()
            b.append(Array(events))
            let rows = try await tx.query(PostgresQuery(unsafeSQL: "SELECT \(PostgresRows.eventColumns) FROM events WHERE id = ANY($1)", binds: b))
            for row in rows {
                let e = try PostgresRows.event(row)
                s.events[e.id] = e
            }
        }
        if !fences.isEmpty {
            let rows = try await tx.query(
                "SELECT name, owner, token FROM evento_leases WHERE name = ANY(\(Array(fences))) AND owner IS NOT NULL AND expires_at > clock_timestamp()")
            for row in rows {
                let (name, owner, token) = try row.decode((String, String, Int64).self)
                s.fences[name] = (owner, token)
            }
        }
    }

    private func decide(_ item: FastWrite, _ c: inout FastItem, _ s: FastState, now: Timestamp, partitionCount: Int) throws -> Decision {
        switch item {
        case .append(let events):
            return .appended(try append(events, replays: true, &c, s, now: now))
        case .submit(let commands):
            var out: [CommandSubmission] = []
            for (index, cmd) in commands.enumerated() {
                let record = cmd.record(at: now)
                if let stored = c.command(cmd.id, s) {
                    if let conflict = record.conflict(with: stored, index: index) { throw conflict }
                    out.append(CommandSubmission(record: stored, isNew: false))
                    continue
                }
                c.commands[cmd.id] = record
                c.newCommands.append(record)
                c.partitions.insert(Partitioning.partition(of: record.entity.rawValue, count: partitionCount))
                out.append(CommandSubmission(record: record, isNew: true))
            }
            return .submitted(out)
        case .complete(let completion):
            if let fence = completion.fence {
                guard let held = s.fences[fence.lease], held.owner == fence.owner, held.token == fence.token else { throw FenceLost(fence: fence) }
            }
            var events = completion.events
            for i in events.indices { events[i].expectedVersion = .exact(completion.expectedVersion + Int64(i)) }
            var record = completion.command
            record.status = .succeeded
            record.attempts = completion.attempts
            record.lastError = nil
            record.resultEventIds = events.map(\.id)
            record.updatedAt = now
            if let stored = c.command(record.id, s) {
                if let conflict = record.conflict(with: stored) { throw conflict }
                guard stored.status == .pending else { return .completed(.alreadyFinal(stored)) }
                record.createdAt = stored.createdAt
                c.updatedCommands[record.id] = record
            } else {
                c.newCommands.append(record)
            }
            c.commands[record.id] = record
            c.finished.append(record.id)
            let appended = try append(events, replays: false, &c, s, now: now)
            if let snapshot = completion.snapshot { c.snapshots.append(snapshot) }
            return .completed(.committed(record, appended.events))
        }
    }

    /// An append decided in memory: stored ids answered (or, for a command's own events, refused),
    /// versions checked, positions handed out.
    private func append(_ events: [NewEvent], replays: Bool, _ c: inout FastItem, _ s: FastState, now: Timestamp) throws -> AppendResult {
        var out: [EventEnvelope] = []
        out.reserveCapacity(events.count)
        var duplicates = 0
        for (index, e) in events.enumerated() {
            if let stored = c.event(e.id, s) {
                guard replays, stored.entity == e.entity, stored.type == e.type else {
                    throw IdempotencyConflict(kind: .event, id: e.id, storedEntity: stored.entity, storedType: stored.type, index: index)
                }
                out.append(stored)
                duplicates += 1
                continue
            }
            let version = c.version(e.entity.rawValue, s)
            guard e.expectedVersion.matches(version) else {
                throw VersionConflict(entity: e.entity, expected: e.expectedVersion, actual: version, index: index)
            }
            c.head += 1
            c.versions[e.entity.rawValue] = version + 1
            let envelope = e.envelope(sequence: version + 1, position: c.head, fallbackTime: now)
            c.events[e.id] = envelope
            c.newEvents.append(envelope)
            out.append(envelope)
        }
        return AppendResult(events: out, duplicates: duplicates)
    }

    /// One statement per table. Nothing here can conflict (the decisions saw everything), so an error is
    /// the group's.
    private func write(_ s: inout FastState, tx: PostgresTransaction) async throws {
        if !s.newCommands.isEmpty {
            let cs = s.newCommands
            var b = PostgresBindings()
            b.append(cs.map(\.id))
            b.append(cs.map(\.entity.rawValue))
            b.append(cs.map { Int64(Partitioning.partition(of: $0.entity.rawValue, count: tx.partitionCount)) })
            b.append(cs.map(\.type))
            b.append(cs.map(\.payload.text))
            b.append(cs.map { $0.causationId ?? "" })
            b.append(cs.map(\.causationKind.rawValue))
            b.append(cs.map(\.correlationId))
            b.append(cs.map { $0.traceparent ?? "" })
            b.append(cs.map(\.status.rawValue))
            b.append(cs.map { Int64($0.attempts) })
            b.append(cs.map { PostgresRows.resultIds($0.resultEventIds) })
            b.append(cs.map(\.createdAt.millisecondsSinceEpoch))
            b.append(cs.map(\.updatedAt.millisecondsSinceEpoch))
            // In array order (acceptance order: each gets its seq in turn).
            let rows = try await tx.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO commands(id, entity, partition, type, payload, causation_id, causation_kind, correlation_id, traceparent,
                            status, attempts, result_event_ids, created_at, updated_at)
                        SELECT i, e, p, t, pl, NULLIF(c, ''), ck, co, NULLIF(tp, ''), st, a, r, ca, ua
                        FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                            $9::text[], $10::text[], $11::int8[], $12::text[], $13::int8[], $14::int8[])
                            WITH ORDINALITY AS u(i, e, p, t, pl, c, ck, co, tp, st, a, r, ca, ua, n)
                        ORDER BY n
                        RETURNING id, seq
                        """, binds: b))
            for row in rows {
                let (id, seq) = try row.decode((String, Int64).self)
                s.commandSeqs[id] = seq
            }
        }
        if !s.updatedCommands.isEmpty {
            let cs = Array(s.updatedCommands.values)
            var b = PostgresBindings()
            b.append(cs.map(\.id))
            b.append(cs.map(\.status.rawValue))
            b.append(cs.map { Int64($0.attempts) })
            b.append(cs.map { PostgresRows.resultIds($0.resultEventIds) })
            b.append(cs.map(\.updatedAt.millisecondsSinceEpoch))
            try await tx.query(
                PostgresQuery(
                    unsafeSQL: """
                        UPDATE commands SET status = u.st, attempts = u.a, last_error = NULL, result_event_ids = u.r, updated_at = u.ua
                        FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::int8[]) AS u(i, st, a, r, ua)
                        WHERE commands.id = u.i
                        """, binds: b))
        }
        if !s.newEvents.isEmpty {
            let inserted = try await PostgresStore.insert(s.newEvents, in: tx)
            guard inserted.count == s.newEvents.count else { throw EventoError(.internal, "an event id decided new was stored meanwhile") }
        }
        if !s.snapshots.isEmpty {
            let snaps = Array(s.snapshots.values)
            var b = PostgresBindings()
            b.append(snaps.map(\.entity.rawValue))
            b.append(snaps.map(\.version))
            b.append(snaps.map(\.state.text))
            b.append(snaps.map { Int64($0.schemaId ?? -1) })
            b.append(tx.now.millisecondsSinceEpoch)
            try await tx.query(
                PostgresQuery(
                    unsafeSQL: """
                        INSERT INTO snapshots(entity, version, state, schema_id, updated_at)
                        SELECT e, v, st, NULLIF(si, -1)::int, $5 FROM unnest($1::text[], $2::int8[], $3::text[], $4::int8[]) AS u(e, v, st, si)
                        ON CONFLICT (entity) DO UPDATE SET version = excluded.version, state = excluded.state, schema_id = excluded.schema_id,
                            updated_at = excluded.updated_at
                        WHERE excluded.version > snapshots.version
                        """, binds: b))
        }
    }
}
