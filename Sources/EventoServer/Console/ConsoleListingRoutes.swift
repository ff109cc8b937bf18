import EventoCore
import Hummingbird

/// `GET /entities?prefix=` and `GET /commands?status=`: the two listings the console needs that the rest
/// of the API does not have. Both are paged by a cursor and bounded in bytes, so a large store costs a page.
///
/// A store that does not implement `ConsoleQueries` (every store here does) answers what every store can: an exact
/// entity id, and pending or dead commands.
struct ConsoleListingRoutes<Context: RequestContext>: Sendable {
    let store: any EventoStorage
    /// Largest answer, in bytes.
    let maxResponseBytes: Int

    func register(on router: Router<Context>) {
        router.get("/entities") { request, _ in try await self.entities(request) }
        router.get("/commands") { request, _ in try await self.commands(request) }
    }

    /// `{"entities": [ids], "next": id?, "prefixSearch": Bool}`.
    func entities(_ request: Request) async throws -> Response {
        guard let prefix = request.uri.queryParameters.get("prefix"), !prefix.isEmpty else {
            throw EventoError(.invalidRequest, "query parameter prefix is required: the start of an entity id, e.g. checking:", field: "prefix")
        }
        let after = request.uri.queryParameters.get("after")
        let limit = Int(try request.queryInt("limit", default: 50, range: 1...1000))
        var ids: [String]
        let prefixSearch: Bool
        if let queries = store as? any ConsoleQueries {
            // One more than asked: whether there is a next page, without another request.
            ids = try await queries.entityIds(prefix: prefix, after: after, limit: limit + 1)
            prefixSearch = true
        } else {
            ids = []
            if after == nil, let entity = try? EntityId(parsing: prefix), try await store.version(of: entity) > 0 { ids = [entity.rawValue] }
            prefixSearch = false
        }
        let more = ids.count > limit
        if more { ids.removeLast() }
        return JSONResponse.object { o in
            o.array("entities", ids) { w, id in w.string(id) }
            if more, let last = ids.last { o.field("next", last) }
            o.field("prefixSearch", prefixSearch)
        }
    }

    /// `{"commands": [{seq, …command}], "nextBeforeSeq": N?, "truncatedByBytes": true?}`, newest first.
    func commands(_ request: Request) async throws -> Response {
        let text = request.uri.queryParameters.get("status") ?? ""
        guard let filter = CommandFilter(rawValue: text) else {
            throw EventoError(
                .invalidRequest,
                "query parameter status: expected one of \(CommandFilter.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text)\"",
                field: "status")
        }
        let before = request.uri.queryParameters.get("beforeSeq") == nil ? nil : try request.queryInt("beforeSeq", default: 0, range: 1...Int64.max)
        let limit = Int(try request.queryInt("limit", default: 50, range: 1...1000))
        let page = try await load(filter, before: before, limit: limit + 1)
        var w = JSONWriter(capacity: 4096)
        w.raw("{\"commands\":[")
        var bounded = ResponsePage(maxBytes: maxResponseBytes, limit: limit)
        var lastSeq: Int64?
        for (seq, c) in page where bounded.isOpen {
            guard bounded.append(to: &w, { w in w.object { o in
                o.field("seq", seq)
                c.writeMembers(to: &o)
            } }) else { break }
            lastSeq = seq
        }
        w.raw("]")
        // More: the store had one past the page, or the byte limit cut it.
        if let lastSeq, page.count > bounded.count, lastSeq > 0 {
            w.raw(",\"nextBeforeSeq\":")
            w.int(lastSeq)
        }
        if bounded.cut { w.raw(",\"truncatedByBytes\":true") }
        w.raw("}")
        return JSONResponse.bytes(w)
    }

    private func load(_ filter: CommandFilter, before: Int64?, limit: Int) async throws -> [(seq: Int64, record: CommandRecord)] {
        if let queries = store as? any ConsoleQueries { return try await queries.commands(filter, beforeSeq: before, limit: limit) }
        // What every command log has: pending commands oldest first, dead ones newest first (no paging).
        switch filter {
        case .pending where before == nil:
            return try await store.pendingCommands(afterSeq: 0, limit: limit)
        case .dead where before == nil:
            return try await store.deadCommands(limit: limit).map { (seq: 0, record: $0) }
        case .pending, .dead:
            return []
        case .scheduled, .retrying, .succeeded, .failed:
            throw EventoError(.unavailable, "this store lists only pending and dead commands (status=\(filter.rawValue) needs the SQLite store)")
        }
    }
}
