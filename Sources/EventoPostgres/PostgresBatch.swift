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
    /// Unique values: "aggregate\0field\0value" → the entity holding it ("" once released in this group),
    /// and "aggregate\0field\0entity" → the value it holds ("" for none).
    var uniqueHolders: [String: String] = [:]
    var uniqueHeld: [String: String] = [:]
    /// The holders as the database has them (to write only what changed).
    var uniqueStored: [String: String] = [:]

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
    var uniqueHolders: [String: String] = [:]
    var uniqueHeld: [String: String] = [:]

    init(head: Int64) { self.head = head }

    func holder(_ key: String, _ s: FastState) -> String? { uniqueHolders[key] ?? s.uniqueHolders[key] }
    func held(_ key: String, _ s: FastState) -> String? { uniqueHeld[key] ?? s.uniqueHeld[key] }

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
        s.uniqueHolders.merge(uniqueHolders) { _, new in new }
        s.uniqueHeld.merge(uniqueHeld) { _, new in new }
    }
}

extension PostgresWriter {
    /// Decides and writes a group's fast items; returns each one's outcome (its result, or its error).
    /// - Parameter finishes: nothing else follows in the group: the write also sets the feed head and sends
    ///   the notifications (one round trip less).
    func commitFast(_ items: [FastWrite], tx: PostgresTransaction, finishes: Bool) async throws -> [Result<FastWrite.Result, any Error>] {
        var entities = Set<String>()
        var commandIds = Set<String>()
        var eventIds = Set<String>()
        var fences = Set<String>()
        var uniques: [UniqueValue] = []
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
                uniques += c.uniqueValues
            }
        }
        var state = FastState(head: tx.head)
        try await read(entities: entities, commands: commandIds, events: eventIds, fences: fences, into: &state, tx: tx)
        if !uniques.isEmpty { try await readUnique(uniques, into: &state, tx: tx) }

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
        var finish: (head: Int64, notify: Notifications)?
        if finishes {
            let wrote = state.head > tx.head
            finish = (
                wrote ? state.head : -1,
                Notifications(
                    events: wrote ? String(state.head) : "", commands: state.partitions.sorted().map(String.init).joined(separator: ","),
                    finished: PostgresWriter.chunks(tx.finished + state.finished, maxBytes: 7_000))
            )
        }
        if !uniques.isEmpty { try await writeUnique(state, tx: tx) }
        try await write(&state, tx: tx, finish: finish)
        tx.finalized = finishes
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

    /// Everything the group's decisions need, in one statement (one round trip): each entity's version,
    /// the stored commands and events under the group's ids, the live fences. Rows come back as JSON
    /// arrays (texts as JSON strings, so payloads return exactly as stored).
    private func read(
        entities: Set<String>, commands: Set<String>, events: Set<String>, fences: Set<String>, into s: inout FastState, tx: PostgresTransaction
    ) async throws {
        var b = PostgresBindings()
        b.append(Array(entities))
        b.append(Array(commands))
        b.append(Array(events))
        b.append(Array(fences))
        let rows = try await tx.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT
                      (SELECT COALESCE(json_agg(json_build_array(e,
                          COALESCE((SELECT sequence FROM events WHERE entity = e ORDER BY sequence DESC LIMIT 1), 0))), '[]')
                       FROM unnest($1::text[]) AS e)::text,
                      (SELECT COALESCE(json_agg(json_build_array(\(PostgresRows.commandColumns))), '[]')
                       FROM commands WHERE id = ANY($2::text[]))::text,
                      (SELECT COALESCE(json_agg(json_build_array(\(PostgresRows.eventColumns))), '[]')
                       FROM events WHERE id = ANY($3::text[]))::text,
                      (SELECT COALESCE(json_agg(json_build_array(name, owner, token)), '[]')
                       FROM evento_leases WHERE name = ANY($4::text[]) AND owner IS NOT NULL AND expires_at > clock_timestamp())::text
                    """, binds: b))
        let (v, c, e, f) = try rows[0].decode((String, String, String, String).self)
        for row in try Self.rows(v) {
            guard let entity = row[0].stringValue, let version = row[1].intValue else { continue }
            s.versions[entity] = version
        }
        for row in try Self.rows(c) {
            let command = try PostgresRows.command(json: row)
            s.commands[command.id] = command
        }
        for row in try Self.rows(e) {
            let event = try PostgresRows.event(json: row)
            s.events[event.id] = event
        }
        for row in try Self.rows(f) {
            guard let name = row[0].stringValue, let owner = row[1].stringValue, let token = row[2].intValue else { continue }
            s.fences[name] = (owner, token)
        }
    }

    /// The rows of `unique_values` the group's unique values touch: those values, and what their entities hold.
    private func readUnique(_ values: [UniqueValue], into s: inout FastState, tx: PostgresTransaction) async throws {
        let withValue = values.filter { $0.value != nil }
        let rows = try await tx.query(
            """
            SELECT aggregate, field, value, entity FROM unique_values u
            WHERE (aggregate, field, value) IN (SELECT * FROM unnest(\(withValue.map(\.aggregate))::text[], \(withValue.map(\.field))::text[], \(withValue.map { $0.value! })::text[]))
               OR (aggregate, field, entity) IN (SELECT * FROM unnest(\(values.map(\.aggregate))::text[], \(values.map(\.field))::text[], \(values.map(\.entity.rawValue))::text[]))
            """)
        for u in values {
            // Known: nothing held unless a row says so.
            s.uniqueHeld["\(u.aggregate)\u{0}\(u.field)\u{0}\(u.entity.rawValue)"] = ""
        }
        for row in rows {
            let (aggregate, field, value, entity) = try row.decode((String, String, String, String).self)
            s.uniqueHolders["\(aggregate)\u{0}\(field)\u{0}\(value)"] = entity
            s.uniqueStored["\(aggregate)\u{0}\(field)\u{0}\(value)"] = entity
            s.uniqueHeld["\(aggregate)\u{0}\(field)\u{0}\(entity)"] = value
        }
    }

    /// Writes the unique values the group changed: released ones deleted, taken ones upserted (each key once).
    private func writeUnique(_ s: FastState, tx: PostgresTransaction) async throws {
        var delA: [String] = [], delF: [String] = [], delV: [String] = []
        var putA: [String] = [], putF: [String] = [], putV: [String] = [], putE: [String] = []
        for (key, entity) in s.uniqueHolders where s.uniqueStored[key] != (entity.isEmpty ? nil : entity) {
            let parts = key.split(separator: "\u{0}", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3 else { continue }
            if entity.isEmpty {
                delA.append(parts[0]); delF.append(parts[1]); delV.append(parts[2])
            } else {
                putA.append(parts[0]); putF.append(parts[1]); putV.append(parts[2]); putE.append(entity)
            }
        }
        guard !delA.isEmpty || !putA.isEmpty else { return }
        try await tx.query(
            """
            WITH d AS (
              DELETE FROM unique_values u USING unnest(\(delA)::text[], \(delF)::text[], \(delV)::text[]) AS x(a, f, v)
              WHERE u.aggregate = x.a AND u.field = x.f AND u.value = x.v RETURNING 1)
            INSERT INTO unique_values(aggregate, field, value, entity)
            SELECT * FROM unnest(\(putA)::text[], \(putF)::text[], \(putV)::text[], \(putE)::text[])
            ON CONFLICT (aggregate, field, value) DO UPDATE SET entity = excluded.entity
            """)
    }

    static func rows(_ text: String) throws -> [[JSONValue]] {
        do {
            return try JSONParser.parse(text).arrayValue?.map { $0.arrayValue ?? [] } ?? []
        } catch {
            throw EventoError(.internal, "PostgreSQL answered unreadable JSON: \(error)")
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
            for u in completion.uniqueValues {
                let prefix = "\(u.aggregate)\u{0}\(u.field)\u{0}"
                if let value = u.value, let holder = c.holder(prefix + value, s), !holder.isEmpty, holder != u.entity.rawValue {
                    throw UniqueConflict(aggregate: u.aggregate, field: u.field, value: value, holder: holder)
                }
                if let old = c.held(prefix + u.entity.rawValue, s), !old.isEmpty { c.uniqueHolders[prefix + old] = "" }
                c.uniqueHeld[prefix + u.entity.rawValue] = u.value ?? ""
                if let value = u.value { c.uniqueHolders[prefix + value] = u.entity.rawValue }
            }
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

    /// Every write of the group in one statement (data-modifying CTEs: each sees the rows as the group
    /// read them, and they touch different rows), and, when `finish` is given, the feed head and the
    /// notifications too. Nothing here can conflict (the decisions saw everything), so an error is the group's.
    private func write(_ s: inout FastState, tx: PostgresTransaction, finish: (head: Int64, notify: Notifications)?) async throws {
        let cs = s.newCommands
        let us = Array(s.updatedCommands.values)
        let es = s.newEvents
        let snaps = Array(s.snapshots.values)
        var b = PostgresBindings()
        // $1…$14: new commands.
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
        // $15…$19: finished commands.
        b.append(us.map(\.id))
        b.append(us.map(\.status.rawValue))
        b.append(us.map { Int64($0.attempts) })
        b.append(us.map { PostgresRows.resultIds($0.resultEventIds) })
        b.append(us.map(\.updatedAt.millisecondsSinceEpoch))
        // $20…$31: events.
        b.append(es.map(\.position))
        b.append(es.map(\.id))
        b.append(es.map(\.entity.rawValue))
        b.append(es.map(\.sequence))
        b.append(es.map(\.type))
        b.append(es.map(\.time.millisecondsSinceEpoch))
        b.append(es.map(\.payload.text))
        b.append(es.map { $0.causationId ?? "" })
        b.append(es.map(\.causationKind.rawValue))
        b.append(es.map(\.correlationId))
        b.append(es.map { $0.traceparent ?? "" })
        b.append(es.map { Int64($0.schemaId ?? -1) })
        // $32…$36: snapshots.
        b.append(snaps.map(\.entity.rawValue))
        b.append(snaps.map(\.version))
        b.append(snaps.map(\.state.text))
        b.append(snaps.map { Int64($0.schemaId ?? -1) })
        b.append(tx.now.millisecondsSinceEpoch)
        // $37…$41: the head and the notifications ('' / -1: none).
        b.append(finish?.head ?? -1)
        b.append(finish?.notify.events ?? "")
        b.append(finish?.notify.commands ?? "")
        b.append(finish?.notify.finished ?? [])
        b.append(finish.map { _ in [channels.events, channels.commands, channels.finished] } ?? ["", "", ""])
        // $42: the new commands' durable timers (-1: none).
        b.append(cs.map { $0.notBefore?.millisecondsSinceEpoch ?? -1 })
        let rows = try await tx.query(
            PostgresQuery(
                unsafeSQL: """
                    WITH nc AS (
                      INSERT INTO commands(id, entity, partition, type, payload, causation_id, causation_kind, correlation_id, traceparent,
                          status, attempts, result_event_ids, created_at, updated_at, not_before)
                      SELECT i, e, p, t, pl, NULLIF(c, ''), ck, co, NULLIF(tp, ''), st, a, r, ca, ua, NULLIF(nb, -1)
                      FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                          $9::text[], $10::text[], $11::int8[], $12::text[], $13::int8[], $14::int8[], $42::int8[])
                          WITH ORDINALITY AS u(i, e, p, t, pl, c, ck, co, tp, st, a, r, ca, ua, nb, n)
                      ORDER BY n
                      RETURNING id, seq),
                    uc AS (
                      UPDATE commands SET status = u.st, attempts = u.a, last_error = NULL, result_event_ids = u.r, updated_at = u.ua
                      FROM unnest($15::text[], $16::text[], $17::int8[], $18::text[], $19::int8[]) AS u(i, st, a, r, ua)
                      WHERE commands.id = u.i RETURNING 1),
                    ne AS (
                      INSERT INTO events(\(PostgresRows.eventColumns))
                      SELECT p, i, e, s, t, tm, pl, NULLIF(c, ''), ck, co, NULLIF(tp, ''), NULLIF(si, -1)::int
                      FROM unnest($20::int8[], $21::text[], $22::text[], $23::int8[], $24::text[], $25::int8[], $26::text[], $27::text[],
                          $28::text[], $29::text[], $30::text[], $31::int8[]) AS u(p, i, e, s, t, tm, pl, c, ck, co, tp, si)
                      RETURNING 1),
                    ns AS (
                      INSERT INTO snapshots(entity, version, state, schema_id, updated_at)
                      SELECT e, v, st, NULLIF(si, -1)::int, $36 FROM unnest($32::text[], $33::int8[], $34::text[], $35::int8[]) AS u(e, v, st, si)
                      ON CONFLICT (entity) DO UPDATE SET version = excluded.version, state = excluded.state, schema_id = excluded.schema_id,
                          updated_at = excluded.updated_at
                      WHERE excluded.version > snapshots.version
                      RETURNING 1),
                    h AS (UPDATE evento_feed SET head = $37 WHERE id = 1 AND $37 >= 0 RETURNING 1),
                    n AS (
                      SELECT CASE WHEN $38 <> '' THEN pg_notify(($41::text[])[1], $38) END AS a,
                             CASE WHEN $39 <> '' THEN pg_notify(($41::text[])[2], $39) END AS b,
                             (SELECT count(pg_notify(($41::text[])[3], f)) FROM unnest($40::text[]) AS f) AS c)
                    SELECT id, seq, (SELECT count(*) FROM ne), (SELECT count(*) FROM n) FROM nc
                    UNION ALL SELECT NULL, NULL, (SELECT count(*) FROM ne), (SELECT count(*) FROM n)
                    """, binds: b))
        var inserted: Int64 = -1
        for row in rows {
            let (id, seq, events, _) = try row.decode((String?, Int64?, Int64, Int64).self)
            inserted = events
            if let id, let seq { s.commandSeqs[id] = seq }
        }
        guard inserted == Int64(es.count) else { throw EventoError(.internal, "an event decided new was not inserted") }
    }

    /// What a group announces when it commits.
    struct Notifications {
        var events: String
        var commands: String
        var finished: [String]
    }
}
