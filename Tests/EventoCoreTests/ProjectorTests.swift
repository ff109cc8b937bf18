@testable import EventoCore
import EventoStore
import Synchronization
import Testing

/// Projectors: events in, view operations out, applied with the cursor in one transaction.
@Suite struct ProjectorTests {
    /// A projector of counter events: `totals/{entity}` holds the running total (merge), `seen/{entity}`
    /// the ids of the events folded (a set as a map), `last/all` the last event (put).
    static func totals(_ request: JSONValue) -> JSONValue {
        var ops: [JSONValue] = []
        for e in request["events"]?.arrayValue ?? [] {
            let entity = e["entity"]?.stringValue ?? "?"
            ops.append(["op": "merge", "view": "seen", "key": .string(entity), "patch": Self.set(e["id"]?.stringValue ?? "")])
            ops.append(["op": "put", "view": "last", "key": "all", "doc": ["id": e["id"] ?? .null, "position": e["position"] ?? .null]])
        }
        return ["operations": .array(ops)]
    }

    /// A merge patch adding `member` to a set kept as a map.
    static func set(_ member: String) -> JSONValue { .object(JSONObject([JSONObject.Member(key: member, value: true)])) }

    final class Calls: Sendable {
        let count = Mutex(0)
        func withLock(_ body: (inout Int) -> Int) -> Int { count.withLock { body(&$0) } }
    }

    static func harness(failFirst: Int = 0, maxAttempts: Int = 3) -> (PipelineHarness, Calls) {
        let h = counterHarness()
        let calls = Calls()
        h.functions.register(.fake("totals", .projector, events: ["counter.*"], maxAttempts: maxAttempts)) { request in
            let n = calls.withLock { c in
                c += 1
                return c
            }
            if n <= failFirst { return Counter.error("not yet (\(n))", retryable: true) }
            return totals(request)
        }
        return (h, calls)
    }

    static func seenIds(_ h: PipelineHarness, _ entity: String) async throws -> Set<String> {
        guard let d = try await h.memory.viewDocument(view: "seen", key: entity) else { return [] }
        return Set(try d.doc.value().objectValue?.keys ?? [])
    }

    @Test func aProjectorSeesEveryMatchingEventOnceInOrderAndItsViewsFollow() async throws {
        let (h, _) = Self.harness()
        let ids = try await h.running {
            var ids: [String] = []
            for i in 0..<20 {
                let entity = try EntityId(parsing: "counter:\(i % 3)")
                let (_, events) = try #require(try await h.evento.submit(addDraft("c\(i)", to: entity), wait: .seconds(30)).finishedResult)
                ids += events.map(\.id)
            }
            let head = try await h.memory.headPosition()
            try await eventually("the projector catches up") { try await h.evento.projector("totals").lag == 0 && head > 0 ? true : nil }
            return ids
        }
        var all: Set<String> = []
        for i in 0..<3 { all.formUnion(try await Self.seenIds(h, "counter:\(i)")) }
        #expect(all == Set(ids))
        let last = try #require(try await h.memory.viewDocument(view: "last", key: "all"))
        #expect(try last.doc.value()["id"]?.stringValue == ids.last)
        #expect(last.position == (try await h.memory.headPosition()))
        // Every call got events in position order, none twice.
        let positions = h.functions.calls(to: "totals").flatMap { $0["events"]?.arrayValue ?? [] }.compactMap { $0["position"]?.intValue }
        #expect(positions == positions.sorted() && Set(positions).count == positions.count)
    }

    @Test func aBatchCommittedTwiceIsAppliedOnceAndAViewBelongsToOneProjector() async throws {
        let store = InMemoryStore()
        try await store.commitProjection(ProjectionCommit(projector: "p", generation: 1, from: 0, to: 5, operations: [
            .merge(view: "v", key: "k", patch: ["a": 1, "tags": ["x": true]]),
        ]))
        // The same batch again (a lost reply, a crash before the answer): the cursor moved, nothing is written.
        await #expect(throws: ProjectionConflict.self) {
            try await store.commitProjection(ProjectionCommit(projector: "p", generation: 1, from: 0, to: 5, operations: [
                .merge(view: "v", key: "k", patch: ["a": 2]),
            ]))
        }
        try await store.commitProjection(ProjectionCommit(projector: "p", generation: 1, from: 5, to: 9, operations: [
            .merge(view: "v", key: "k", patch: ["tags": ["y": true, "x": .null]]),
        ]))
        let doc = try #require(try await store.viewDocument(view: "v", key: "k"))
        #expect(try doc.doc.value() == ["a": 1, "tags": ["y": true]])
        #expect(doc.position == 9)
        await #expect { try await store.commitProjection(ProjectionCommit(projector: "q", generation: 1, from: 0, to: 9, operations: [
            .put(view: "v", key: "k", doc: [:]),
        ])) } throws: { ($0 as? EventoError)?.code == .conflict }
        #expect(try await store.projectorState("q")?.cursor ?? 0 == 0, "nothing written")
    }

    @Test func aFailingProjectorIsRetriedThenParkedWithoutStallingOthersAndRetriedOnRequest() async throws {
        let (h, calls) = Self.harness(failFirst: 6, maxAttempts: 3)
        let other = Mutex(0)
        h.functions.register(.fake("counting", .projector, events: ["*"])) { request in
            other.withLock { $0 += request["events"]?.arrayValue?.count ?? 0 }
            return ["operations": []]
        }
        try await h.running {
            _ = try await h.evento.submit(addDraft("c1"), wait: .seconds(30))
            let parked = try await eventually("parked") {
                let p = try await h.evento.projector("totals")
                return p.state.status == .parked ? p : nil
            }
            #expect(parked.state.lastError?.contains("not yet (3)") == true, "\(parked.state.lastError ?? "")")
            #expect(parked.lag > 0)
            try await eventually("the other projector goes on") { other.withLock { $0 } >= 1 ? true : nil }
            // Retried: three more failures (4, 5, 6) park it again; the next retry succeeds.
            _ = try await h.evento.retry(projector: "totals")
            try await eventually("parked again") { try await h.evento.projector("totals").state.status == .parked && calls.withLock { $0 } >= 6 ? true : nil }
            _ = try await h.evento.retry(projector: "totals")
            let done = try await eventually("caught up") {
                let p = try await h.evento.projector("totals")
                return p.lag == 0 && p.state.status == .running ? p : nil
            }
            #expect(done.state.lastError == nil)
        }
        #expect(try await Self.seenIds(h, "counter:1").count == 1)
        await #expect { try await h.evento.retry(projector: "totals") } throws: { ($0 as? EventoError)?.code == .conflict }
    }

    @Test func aRebuildReplaysIntoANewGenerationServesTheOldMeanwhileAndSwapsToTheSameViews() async throws {
        let h = counterHarness()
        // A projector held at a gate once the rebuild has begun, so that the test reads while it is under way.
        let gate = Gate()
        let holding = Calls()
        h.functions.register(.fake("totals", .projector, events: ["counter.*"])) { request in
            if holding.withLock({ $0 }) == 1 { await gate.wait() }
            return Self.totals(request)
        }
        try await h.running {
            for i in 0..<10 { _ = try await h.evento.submit(addDraft("c\(i)"), wait: .seconds(30)) }
            try await eventually("caught up") { try await h.evento.projector("totals").lag == 0 ? true : nil }
            let before = try await Self.seenIds(h, "counter:1")
            #expect(before.count == 10)
            _ = holding.withLock { $0 = 1; return 1 }
            let started = try await h.evento.rebuild(projector: "totals")
            #expect(started.state.generation == 1 && started.state.rebuildCursor == 0)
            // Held: generation 2 is being built; reads serve generation 1, whole.
            try await Task.sleep(for: .milliseconds(100))
            let during = try await h.evento.projector("totals")
            #expect(during.state.generation == 1 && during.state.status == .rebuilding && during.state.rebuildCursor == 0)
            #expect(try await Self.seenIds(h, "counter:1") == before)
            // Asked again while under way: it starts over, and still serves generation 1.
            _ = try await h.evento.rebuild(projector: "totals")
            #expect(try await Self.seenIds(h, "counter:1") == before)
            _ = holding.withLock { $0 = 0; return 0 }
            gate.open()
            let swapped = try await eventually("swapped") {
                let p = try await h.evento.projector("totals")
                return p.state.generation == 2 && p.state.status == .running ? p : nil
            }
            #expect(swapped.state.rebuildCursor == nil && swapped.lag == 0)
            #expect(try await Self.seenIds(h, "counter:1") == before, "rebuilt equals incremental")
        }
    }
}

/// `POST /aggregates/{aggregate}/rebuild`: every snapshot refolded by the aggregator as it is now.
@Suite struct SnapshotRebuildTests {
    @Test func aRebuildRefoldsEverySnapshotWithTheNewAggregator() async throws {
        let h = counterHarness()
        let doubled = Mutex(false)
        h.functions.register(.fake("counter-aggregator", .aggregator, aggregate: "counter")) { request in
            guard doubled.withLock({ $0 }) else { return Counter.fold(request) }
            // The "new" aggregator: counts twice.
            let events = request["events"]?.arrayValue ?? []
            let total = Counter.total(request) + events.reduce(0) { $0 + 2 * ($1["payload"]?["n"]?.intValue ?? 0) }
            return ["state": ["total": .int(total)]]
        }
        let rebuilder = SnapshotRebuilder(store: h.memory, aggregates: h.evento.aggregates, functions: h.functions, validator: AcceptAllValidator(), logger: PipelineHarness.quietLogger)
        try await h.running {
            for i in 0..<6 {
                _ = try await h.evento.submit(addDraft("c\(i)", to: try EntityId(parsing: "counter:\(i % 3)"), n: Int64(i + 1)), wait: .seconds(30))
            }
            #expect(try await h.memory.snapshot(of: try EntityId(parsing: "counter:0"))?.state == RawJSON(["total": 5]))
            doubled.withLock { $0 = true }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await rebuilder.run() }
                let started = try rebuilder.start("counter")
                #expect(started.state == .running)
                #expect(throws: EventoError.self) { try rebuilder.start("counter") }
                let done = try await eventually("the rebuild ends") { rebuilder.status("counter").flatMap { $0.state == .done ? $0 : nil } }
                #expect(done.entities == 3 && done.events == 6 && done.failures == 0)
                group.cancelAll()
            }
        }
        // counter:0 got 1 and 4, counter:1 2 and 5, counter:2 3 and 6: doubled.
        for (i, total) in [10, 14, 18].enumerated() {
            let snap = try await h.memory.snapshot(of: try EntityId(parsing: "counter:\(i)"))
            #expect(snap?.state == RawJSON(["total": .int(Int64(total))]) && snap?.version == 2)
        }
        #expect(throws: EventoError.self) { try rebuilder.start("nothing") }
    }

    /// Counters whose totals are unique, refolded by an aggregator that changes the totals: the new
    /// totals are reserved with the snapshots and the old ones released (before: the reservations kept the
    /// old values, so a lookup by the new total found nothing and the old one named the entity still);
    /// a refold that would give two counters the same total fails the later one and leaves it as it was.
    @Test func aRebuildReservesTheUniqueValuesOfTheRefoldedStates() async throws {
        let validator = StubValidator(unique: ["counter": [UniqueField(name: "total", casefold: false)]])
        let h = PipelineHarness(validator: validator)
        let mode = Mutex(0)  // 0: the sum; 1: doubled; 2: the number of events (the same for all)
        h.functions.register(.fake("counter-handler", .handler, aggregate: "counter")) { Counter.handle($0) }
        h.functions.register(.fake("counter-aggregator", .aggregator, aggregate: "counter")) { request in
            let events = request["events"]?.arrayValue ?? []
            switch mode.withLock({ $0 }) {
            case 1: return ["state": ["total": .int(Counter.total(request) + events.reduce(0) { $0 + 2 * ($1["payload"]?["n"]?.intValue ?? 0) })]]
            case 2: return ["state": ["total": .int(Counter.total(request) + Int64(events.count))]]
            default: return Counter.fold(request)
            }
        }
        let rebuilder = SnapshotRebuilder(
            store: h.memory, aggregates: h.evento.aggregates, functions: h.functions, validator: validator, logger: PipelineHarness.quietLogger)
        let index: any UniqueIndex = h.memory
        func holder(_ total: Int) async throws -> String? {
            try await index.entity(aggregate: "counter", field: "total", value: "\(total)")?.rawValue
        }
        func rebuild() async throws -> SnapshotRebuilder.Progress {
            _ = try rebuilder.start("counter")
            return try await eventually("the rebuild ends") { rebuilder.status("counter").flatMap { $0.state == .done ? $0 : nil } }
        }
        let rebuilds = Task { await rebuilder.run() }
        defer { rebuilds.cancel() }
        try await h.running {
            // counter:0 gets 1 and 4 (5), counter:1 2 and 5 (7), counter:2 3 and 6 (9).
            for i in 0..<6 {
                _ = try await h.evento.submit(addDraft("c\(i)", to: try EntityId(parsing: "counter:\(i % 3)"), n: Int64(i + 1)), wait: .seconds(30))
            }
            #expect(try await holder(5) == "counter:0")
            #expect(try await holder(7) == "counter:1")
            #expect(try await holder(9) == "counter:2")
            mode.withLock { $0 = 1 }
            let doubled = try await rebuild()
            #expect(doubled.entities == 3 && doubled.failures == 0, "\(doubled.lastError ?? "")")
            #expect(try await holder(10) == "counter:0")
            #expect(try await holder(14) == "counter:1")
            #expect(try await holder(18) == "counter:2")
            for old in [5, 7, 9] { #expect(try await holder(old) == nil, "the old totals are released") }
            // Every counter would stand at 2: the first keeps it, the others fail and stay as they were.
            mode.withLock { $0 = 2 }
            let clashing = try await rebuild()
            #expect(clashing.entities == 1 && clashing.failures == 2)
            #expect(clashing.lastError?.contains("total \"2\" is already taken by counter:0") == true, "\(clashing.lastError ?? "")")
            #expect(try await holder(2) == "counter:0")
            #expect(try await holder(10) == nil)
            #expect(try await holder(14) == "counter:1")
            #expect(try await holder(18) == "counter:2")
            let second = try await h.memory.snapshot(of: try EntityId(parsing: "counter:1"))
            #expect(second?.state == RawJSON(["total": 14]))
        }
    }
}

@Suite struct ViewKeyTests {
    @Test func aKeyHoldingNULIsRefusedInAnOperationAndInAReadWithTheFieldNamed() throws {
        let reply = Array(#"{"operations":[{"op":"put","view":"v","key":"ok","doc":{}},{"op":"put","view":"v","key":"a\u0000b","doc":{}}]}"#.utf8)
        #expect { try FunctionProtocol.parseOperations(reply, function: "p") } throws: { e in
            "\(e)".contains("operations[1].key") && "\(e)".contains("U+0000")
        }
        #expect(Names.viewKeyProblem("a\u{0}") != nil && Names.viewKeyProblem("any text, even \u{FFFD} or /") == nil)
        #expect { try Evento.checkViewKey("a\u{0}b", field: "keys[3]") } throws: { e in
            (e as? EventoError)?.field == "keys[3]" && (e as? EventoError)?.code == .invalidRequest
        }
    }
}

/// Views with a schema: documents are validated (and normalised) as operations leave them.
@Suite struct ViewSchemaTests {
    /// View `totals` needs an integer `n`.
    static let validator = StubValidator(
        viewProblem: { _, doc, field in doc["n"]?.intValue == nil ? EventoError(.validation, "\(field).n: is required (a long)", field: field + ".n") : nil },
        viewsWithSchema: ["totals"])

    @Test func aDocumentThatBreaksItsViewsSchemaParksTheProjectorAndWritesNothing() async throws {
        let h = PipelineHarness(validator: Self.validator)
        h.functions.register(.fake("counter-handler", .handler, aggregate: "counter")) { Counter.handle($0) }
        h.functions.register(.fake("totals", .projector, events: ["counter.*"])) { request in
            let events = request["events"]?.arrayValue ?? []
            // The first batch is fine; a later one merges a document without n.
            let bad = events.contains { $0["sequence"]?.intValue == 2 }
            return ["operations": .array(events.map { e in
                bad ? ["op": "put", "view": "totals", "key": e["entity"] ?? "", "doc": ["m": 1]]
                    : ["op": "merge", "view": "totals", "key": e["entity"] ?? "", "patch": ["n": e["sequence"] ?? 0]]
            })]
        }
        try await h.running {
            _ = try await h.evento.submit(addDraft("c1"), wait: .seconds(30))
            try await eventually("projected") { try await h.evento.projector("totals").lag == 0 ? true : nil }
            _ = try await h.evento.submit(addDraft("c2"), wait: .seconds(30))
            let parked = try await eventually("parked") {
                let p = try await h.evento.projector("totals")
                return p.state.status == .parked ? p : nil
            }
            #expect(parked.state.lastError?.contains("view totals: doc.n: is required") == true, "\(parked.state.lastError ?? "")")
        }
        #expect(try await h.memory.viewDocument(view: "totals", key: "counter:1")?.doc.value() == ["n": 1], "the bad batch wrote nothing")
    }
}
