import EventoCore
import Testing

/// The console's listings (`ConsoleQueries`), the same on every backend.
@Suite struct ConsoleQueriesTests {
    @Test(arguments: Backend.all)
    func entityIdsPageByPrefixInOrder(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let queries = try #require(opened.store as? any ConsoleQueries, "\(backend.name) lists for the console")
        for id in ["checking:ann", "checking:anna", "checking:bob", "savings:ann", "checking:al"] {
            _ = try await opened.store.append([try draft(id), try draft(id)])
        }
        #expect(try await queries.entityIds(prefix: "checking:an", after: nil, limit: 10) == ["checking:ann", "checking:anna"])
        #expect(try await queries.entityIds(prefix: "checking:", after: nil, limit: 2) == ["checking:al", "checking:ann"])
        #expect(try await queries.entityIds(prefix: "checking:", after: "checking:ann", limit: 10) == ["checking:anna", "checking:bob"])
        #expect(try await queries.entityIds(prefix: "checking:ann", after: nil, limit: 10) == ["checking:ann", "checking:anna"], "the prefix itself")
        #expect(try await queries.entityIds(prefix: "nothing", after: nil, limit: 10).isEmpty)
    }

    @Test(arguments: Backend.all)
    func commandsPageByStatusNewestFirst(_ backend: Backend) async throws {
        let opened = try await backend.open()
        defer { opened.close() }
        let store = opened.store
        let queries = try #require(store as? any ConsoleQueries)
        var drafts = try (1...5).map { try commandDraft("c\($0)", entity: "account:\($0)") }
        drafts[3].notBefore = Timestamp(millisecondsSinceEpoch: Timestamp.now().millisecondsSinceEpoch + 3_600_000)
        let submitted = try await store.submit(drafts)
        #expect(submitted[3].record.notBefore == drafts[3].notBefore)
        _ = try await store.recordFailure(submitted[1].record, status: .dead, attempts: 3, error: "boom")
        _ = try await store.recordFailure(submitted[2].record, status: .pending, attempts: 1, error: "retry")
        let pending = try await queries.commands(.pending, beforeSeq: nil, limit: 10).map(\.record.id)
        #expect(pending == ["c5", "c4", "c3", "c1"])
        #expect(try await queries.commands(.scheduled, beforeSeq: nil, limit: 10).map(\.record.id) == ["c4"])
        #expect(try await queries.commands(.retrying, beforeSeq: nil, limit: 10).map(\.record.id) == ["c3"])
        #expect(try await store.command(id: "c4")?.notBefore == drafts[3].notBefore)
        #expect(try await queries.commands(.dead, beforeSeq: nil, limit: 10).map(\.record.id) == ["c2"])
        let firstPage = try await queries.commands(.pending, beforeSeq: nil, limit: 2)
        #expect(firstPage.map(\.record.id) == ["c5", "c4"])
        let next = try await queries.commands(.pending, beforeSeq: firstPage.last?.seq, limit: 2)
        #expect(next.map(\.record.id) == ["c3", "c1"])
    }
}
