import EventoCore
import EventoStore
import Testing

/// Views, unique values and aggregate listings, the same on every backend.
@Suite struct QuerySideStoreTests {
    static func completion(_ store: any EventoStorage, _ id: String, entity: String, state: JSONValue, unique: String?) async throws -> CompletionResult {
        let e = try EntityId(parsing: entity)
        let version = try await store.version(of: e)
        let command = try commandDraft(id, entity: entity).record(at: .now())
        return try await store.complete(
            CommandCompletion(
                command: command, isLogged: false, attempts: 1,
                events: [NewEvent(id: Identifiers.uuidV7(), entity: e, type: "Set", payload: RawJSON(state), causationId: id, causationKind: .command, correlationId: id, traceparent: nil)],
                expectedVersion: version, snapshot: Snapshot(entity: e, version: version + 1, state: RawJSON(state)),
                uniqueValues: [UniqueValue(aggregate: e.aggregate, field: "username", value: unique, entity: e)]))
    }

    @Test(arguments: Backend.all)
    func uniqueValuesAreReservedReleasedAndRefusedToOthersWithNothingWritten(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let index = try #require(store as? any UniqueIndex)
        _ = try await Self.completion(store, "u1", entity: "user:1", state: ["username": "Alice"], unique: "alice")
        #expect(try await index.entity(aggregate: "user", field: "username", value: "alice")?.rawValue == "user:1")
        // Another entity taking it: refused, naming the holder; nothing of that command is written.
        await #expect { try await Self.completion(store, "u2", entity: "user:2", state: ["username": "ALICE"], unique: "alice") } throws: { e in
            (e as? UniqueConflict) == UniqueConflict(aggregate: "user", field: "username", value: "alice", holder: "user:1")
        }
        #expect(try await store.command(id: "u2") == nil)
        #expect(try await store.version(of: try EntityId(parsing: "user:2")) == 0)
        // The holder renames itself: the old value is free for others.
        _ = try await Self.completion(store, "u3", entity: "user:1", state: ["username": "Alicia"], unique: "alicia")
        #expect(try await index.entity(aggregate: "user", field: "username", value: "alice") == nil)
        _ = try await Self.completion(store, "u4", entity: "user:2", state: ["username": "alice"], unique: "alice")
        #expect(try await index.entity(aggregate: "user", field: "username", value: "alice")?.rawValue == "user:2")
        // Re-committing the same value for its holder is fine.
        _ = try await Self.completion(store, "u5", entity: "user:2", state: ["username": "alice", "n": 1], unique: "alice")
        // Listing by field.
        let listing = try #require(store as? any SnapshotListing)
        let all = try await listing.snapshots(aggregate: "user", where: [], after: nil, limit: 10)
        #expect(all.map(\.entity.rawValue) == ["user:1", "user:2"])
        #expect(try await listing.snapshots(aggregate: "user", where: [("username", "Alicia")], after: nil, limit: 10).map(\.entity.rawValue) == ["user:1"])
        #expect(try await listing.snapshots(aggregate: "user", where: [("n", "1")], after: nil, limit: 10).map(\.entity.rawValue) == ["user:2"])
        #expect(try await listing.snapshots(aggregate: "user", where: [], after: "user:1", limit: 10).map(\.entity.rawValue) == ["user:2"])
    }

    /// A refolded snapshot (a snapshot rebuild) reserves the unique values of its state with it, releasing
    /// what the entity held; a value another entity holds is refused with nothing written; a snapshot older
    /// than the stored one changes nothing, reservations included.
    @Test(arguments: Backend.all)
    func aReplacedSnapshotReservesItsUniqueValues(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let index = try #require(store as? any UniqueIndex)
        let listing = try #require(store as? any SnapshotListing)
        _ = try await Self.completion(store, "r1", entity: "user:1", state: ["username": "ann"], unique: "ann")
        _ = try await Self.completion(store, "r2", entity: "user:2", state: ["username": "bob"], unique: "bob")
        let one = try EntityId(parsing: "user:1")
        func value(_ v: String?, _ e: EntityId) -> [UniqueValue] { [UniqueValue(aggregate: "user", field: "username", value: v, entity: e)] }
        try await listing.replace(Snapshot(entity: one, version: 1, state: RawJSON(["username": "anna"])), uniqueValues: value("anna", one))
        #expect(try await index.entity(aggregate: "user", field: "username", value: "anna")?.rawValue == "user:1")
        #expect(try await index.entity(aggregate: "user", field: "username", value: "ann") == nil)
        // Taken by user:2: refused, naming it; neither the snapshot nor the reservations change.
        await #expect { try await listing.replace(Snapshot(entity: one, version: 1, state: RawJSON(["username": "bob"])), uniqueValues: value("bob", one)) } throws: { e in
            (e as? UniqueConflict) == UniqueConflict(aggregate: "user", field: "username", value: "bob", holder: "user:2")
        }
        #expect(try await store.snapshot(of: one)?.state == RawJSON(["username": "anna"]))
        #expect(try await index.entity(aggregate: "user", field: "username", value: "anna")?.rawValue == "user:1")
        #expect(try await index.entity(aggregate: "user", field: "username", value: "bob")?.rawValue == "user:2")
        // Older than the stored snapshot: nothing.
        _ = try await Self.completion(store, "r3", entity: "user:1", state: ["username": "anne"], unique: "anne")
        try await listing.replace(Snapshot(entity: one, version: 1, state: RawJSON(["username": "zed"])), uniqueValues: value("zed", one))
        #expect(try await index.entity(aggregate: "user", field: "username", value: "zed") == nil)
        #expect(try await index.entity(aggregate: "user", field: "username", value: "anne")?.rawValue == "user:1")
        #expect(try await store.snapshot(of: one)?.version == 2)
        // A state without the field releases it.
        try await listing.replace(Snapshot(entity: one, version: 2, state: RawJSON(["n": 1])), uniqueValues: value(nil, one))
        #expect(try await index.entity(aggregate: "user", field: "username", value: "anne") == nil)
    }

    /// A state holding the escape `\u0000` (PostgreSQL's JSON operators refuse it, failing the whole query
    /// before) is listed and filtered like any other, and its unique value is reserved.
    @Test(arguments: Backend.all)
    func aStateHoldingNULIsListedFilteredAndReserved(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let field = UniqueField(name: "username", casefold: true)
        for (i, name) in ["a\u{0}b", "c", "d\u{0}", "e"].enumerated() {
            let state: JSONValue = ["username": .string(name), "n": i == 3 ? 2 : 1]
            _ = try await Self.completion(store, "n\(i)", entity: "user:\(i)", state: state, unique: field.key(in: state))
        }
        let listing = try #require(store as? any SnapshotListing)
        #expect(try await listing.snapshots(aggregate: "user", where: [], after: nil, limit: 10).count == 4)
        #expect(try await listing.snapshots(aggregate: "user", where: [("n", "1")], after: nil, limit: 10).map(\.entity.rawValue) == ["user:0", "user:1", "user:2"])
        #expect(try await listing.snapshots(aggregate: "user", where: [("username", "c")], after: nil, limit: 10).map(\.entity.rawValue) == ["user:1"])
        // A page refilled past the states it skipped: user:0 and user:2 do not match, user:3 does.
        #expect(try await listing.snapshots(aggregate: "user", where: [("n", "2")], after: nil, limit: 1).map(\.entity.rawValue) == ["user:3"])
        #expect(try await listing.snapshots(aggregate: "user", where: [("n", "1")], after: "user:0", limit: 1).map(\.entity.rawValue) == ["user:1"])
        let index = try #require(store as? any UniqueIndex)
        #expect(try await index.entity(aggregate: "user", field: "username", value: field.key(forText: "A\u{0}B"))?.rawValue == "user:0")
        await #expect(throws: UniqueConflict.self) {
            try await Self.completion(store, "n9", entity: "user:9", state: ["username": "a\u{0}B"], unique: field.key(forText: "a\u{0}B"))
        }
    }

    /// A status is written only where the caller saw the projector: a failure decided on a batch of the
    /// live generation does not park a rebuild that began meanwhile (before: it did, and a retryable one
    /// turned `rebuilding` back into `running`).
    @Test(arguments: Backend.all)
    func aProjectorStatusIsWrittenOnlyWhereTheCallerSawTheProjector(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let views = try #require(opened.store as? any ViewStore)
        try await views.commitProjection(ProjectionCommit(projector: "p", generation: 1, from: 0, to: 3, operations: []))
        let seen = try #require(try await views.projectorState("p"))
        #expect(seen.track.generation == 1 && seen.track.cursor == 3)
        #expect(try await views.setProjectorStatus("p", status: .running, lastError: "a retryable failure", at: seen.track))
        #expect(try await views.projectorState("p")?.lastError == "a retryable failure")
        // A rebuild begins; the failure the runner saw on generation 1 comes in late.
        _ = try await views.beginRebuild("p")
        #expect(try await views.setProjectorStatus("p", status: .parked, lastError: "stale", at: seen.track) == false)
        #expect(try await views.setProjectorStatus("p", status: .running, lastError: "stale", at: seen.track) == false)
        let rebuilding = try #require(try await views.projectorState("p"))
        #expect(rebuilding.status == .rebuilding && rebuilding.lastError == nil)
        // At the rebuild's own track it parks; without a track it is always written.
        #expect(try await views.setProjectorStatus("p", status: .parked, lastError: "stuck", at: rebuilding.track))
        #expect(try await views.projectorState("p")?.status == .parked)
        #expect(try await views.setProjectorStatus("p", status: .rebuilding, lastError: nil, at: nil))
        #expect(try await views.projectorState("p")?.status == .rebuilding)
    }

    @Test(arguments: Backend.all)
    func viewsApplyOperationsWithTheCursorOnceAndRebuildsSwapGenerations(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let views = try #require(opened.store as? any ViewStore)
        try await views.commitProjection(ProjectionCommit(projector: "p", generation: 1, from: 0, to: 4, operations: [
            .put(view: "people", key: "b", doc: ["n": 1]), .put(view: "people", key: "a", doc: ["n": 0]),
            .merge(view: "people", key: "ab", patch: ["tags": ["x": true]]), .merge(view: "people", key: "ab", patch: ["tags": ["y": true]]),
            .put(view: "people", key: "c", doc: [:]), .delete(view: "people", key: "c"),
        ]))
        await #expect(throws: ProjectionConflict.self) {
            try await views.commitProjection(ProjectionCommit(projector: "p", generation: 1, from: 0, to: 4, operations: [.delete(view: "people", key: "a")]))
        }
        #expect(try await views.viewDocument(view: "people", key: "a")?.position == 4)
        #expect(try await views.viewDocument(view: "people", key: "c") == nil)
        #expect(try await views.viewDocument(view: "people", key: "ab")?.doc.value() == ["tags": ["x": true, "y": true]])
        #expect(try await views.viewDocuments(view: "people", prefix: "a", after: nil, limit: 10).map(\.key) == ["a", "ab"])
        #expect(try await views.viewDocuments(view: "people", prefix: "", after: "a", limit: 2).map(\.key) == ["ab", "b"])
        #expect(try await views.viewDocuments(view: "people", keys: ["b", "zz", "a"]).map(\.key) == ["b", "a"])
        await #expect { try await views.commitProjection(ProjectionCommit(projector: "q", generation: 1, from: 0, to: 1, operations: [.put(view: "people", key: "z", doc: [:])])) } throws: {
            ($0 as? EventoError)?.code == .conflict
        }
        // A rebuild: generation 2 from 0, built beside 1 (reads stay on 1), then swapped.
        let rebuilding = try await views.beginRebuild("p")
        #expect(rebuilding.track == (2, 0) as (Int64, Int64) || (rebuilding.track.generation == 2 && rebuilding.track.cursor == 0))
        try await views.commitProjection(ProjectionCommit(projector: "p", generation: 2, from: 0, to: 5, operations: [.put(view: "people", key: "a", doc: ["n": 9])]))
        #expect(try await views.viewDocument(view: "people", key: "a")?.doc.value() == ["n": 0], "the live generation until the swap")
        // A rebuild started again after the caller saw it caught up is not swapped in (empty).
        _ = try await views.beginRebuild("p")
        await #expect(throws: ProjectionConflict.self) { try await views.finishRebuild("p", at: 5) }
        #expect(try await views.viewDocument(view: "people", key: "a")?.doc.value() == ["n": 0], "still the live generation")
        try await views.commitProjection(ProjectionCommit(projector: "p", generation: 2, from: 0, to: 5, operations: [.put(view: "people", key: "a", doc: ["n": 9])]))
        try await views.finishRebuild("p", at: 5)
        let state = try #require(try await views.projectorState("p"))
        #expect(state.generation == 2 && state.cursor == 5 && state.rebuildCursor == nil && state.status == .running)
        #expect(try await views.viewDocument(view: "people", key: "a")?.doc.value() == ["n": 9])
        #expect(try await views.viewDocument(view: "people", key: "b") == nil, "the old generation is gone")
    }
}
