import CoreMetrics
import EventoCore
import EventoHTTP
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle

/// `POST /commands`, `GET /commands/{id}`, `GET /aggregates/{entity}`.
struct CommandRoutes<Context: RequestContext>: Sendable {
    let evento: Evento
    let maxBodyBytes: Int
    /// Largest answer with the events of a command (`?wait=true`), in bytes.
    let maxResponseBytes: Int
    /// In a cluster: how a waited-for command is passed to the instance that runs its entity.
    var http: HTTPClient? = nil

    func register(on router: Router<Context>) {
        router.post("/commands") { request, _ in try await self.send(request) }
        router.get("/commands/:id") { _, context in
            let id = try context.parameters.decoded("id")
            guard let c = try await evento.command(id: id) else { throw EventoError.notFound("no command with id \"\(id)\"") }
            return JSONResponse.object { c.writeMembers(to: &$0) }
        }
        router.get("/aggregates/:entity") { _, context in try await self.aggregate(context) }
        router.get("/aggregates") { request, _ in try await self.aggregates(request) }
        router.post("/aggregates/:entity/rebuild") { _, context in
            let p = try Self.rebuilder(evento).start(try Self.aggregateName(context))
            return JSONResponse.object(.accepted) { Self.write(p, to: &$0) }
        }
        router.get("/aggregates/:entity/rebuild") { _, context in
            let aggregate = try Self.aggregateName(context)
            guard let p = try Self.rebuilder(evento).status(aggregate) else {
                throw EventoError.notFound("no rebuild of \(aggregate)'s snapshots since this instance started")
            }
            return JSONResponse.object { Self.write(p, to: &$0) }
        }
    }

    func send(_ request: Request) async throws -> Response {
        var request = request
        // Query parameters first: a request that gets a 4xx writes nothing.
        // wait=true: until the command finished; wait=tree: until everything it caused has settled too.
        let waitMode = request.uri.queryParameters.get("wait") ?? "false"
        guard ["true", "false", "tree"].contains(waitMode) else {
            throw EventoError(.invalidRequest, "query parameter wait: expected true, false or tree, got \"\(waitMode)\"", field: "wait")
        }
        let wait = waitMode != "false"
        let waitTree = waitMode == "tree"
        let started = ContinuousClock.now
        let timeoutMs = try request.queryInt("timeoutMs", default: 30_000, range: 1...300_000)
        let body = try await request.jsonBody(limit: maxBodyBytes)
        var draft = try SubmissionParser.command(body)
        let evento = self.evento
        let traceparent = request.headers[.traceparent]
        let serverSpan = request.headers[TracingMiddleware<Context>.serverSpan]
        // In a cluster, a command whose client waits runs where its entity lives: passed to that instance
        // (one HTTP hop) rather than logged here and picked up there. Unreachable: handled here as usual.
        if wait, !waitTree, let http, let cluster = evento.cluster, request.headers[HTTPField.Name.eventoForwarded] == nil,
            let owner = cluster.ownerAddress(of: draft.entity)
        {
            // The id is fixed before the hop, so that a fallback here is the same command.
            var forwardedBody = body
            if draft.id == nil, case .object(var o) = body {
                let id = Identifiers.uuidV7()
                o["id"] = .string(id)
                forwardedBody = .object(o)
                draft.id = id
            }
            if let answer = await forward(forwardedBody, to: owner, timeoutMs: timeoutMs, request: request, http: http) { return answer }
        }
        let submitted = draft
        let reply: Evento.CommandReply
        if wait {
            // At shutdown the wait ends at once (the server waits for answers in flight before it exits): the
            // client gets the 202, as at the deadline. Cancelling ends only the wait (`Waiters.wait` returns nil);
            // the command is logged before the 202 either way.
            reply = try await cancelWhenGracefulShutdown {
                try await evento.submit(submitted, wait: .milliseconds(timeoutMs), headerTraceparent: traceparent, serverSpan: serverSpan)
            }
        } else {
            reply = try await evento.submit(submitted, wait: nil, headerTraceparent: traceparent, serverSpan: serverSpan)
        }
        switch reply {
        case .accepted(let record) where waitTree:
            // The wait ended before the command itself finished: the tree so far (unsettled), as promised.
            return treeResponse(try await evento.tree(of: record.id))
        case .accepted(let record):
            return JSONResponse.object(.accepted, headers: [.location: "/commands/\(record.id)"]) { o in
                o.field("id", record.id)
                o.field("status", record.shownStatus)
                if let notBefore = record.notBefore { o.field("notBefore", notBefore.description) }
            }
        case .finished(let record, _) where waitTree:
            let left = Duration.milliseconds(timeoutMs) - (ContinuousClock.now - started)
            let tree = try await evento.settledTree(of: record.id, timeout: max(left, .zero))
            return treeResponse(tree)
        case .finished(let record, let events):
            guard wait else {
                // Submitted before and finished: answered like any accepted command.
                return JSONResponse.object(.accepted, headers: [.location: "/commands/\(record.id)"]) { o in
                    o.field("id", record.id)
                    o.field("status", record.status.rawValue)
                }
            }
            // The events, as many as fit in the byte limit (the command's resultEventIds name them all).
            var w = JSONWriter(capacity: 4096)
            w.raw("{\"command\":")
            w.object { record.writeMembers(to: &$0) }
            w.raw(",\"events\":[")
            var page = ResponsePage(maxBytes: maxResponseBytes, limit: events.count)
            for e in events where page.isOpen { _ = page.append(to: &w) { e.write(to: &$0) } }
            w.raw("]")
            if page.cut { w.raw(",\"truncatedByBytes\":true") }
            w.raw("}")
            return JSONResponse.bytes(w, .ok, headers: [.location: "/commands/\(record.id)"])
        }
    }

    /// `{"command", "events": [position order], "commands": [each with its status], "settled"}`: 200 once
    /// settled, 202 when the wait ended first (`"settled": false`, the tree so far).
    func treeResponse(_ tree: CommandTree) -> Response {
        var w = JSONWriter(capacity: 8192)
        w.raw("{\"command\":")
        w.object { tree.command.writeMembers(to: &$0) }
        var events = ResponsePage(maxBytes: maxResponseBytes, limit: tree.events.count)
        w.raw(",\"events\":[")
        for e in tree.events where events.isOpen { _ = events.append(to: &w) { e.write(to: &$0) } }
        w.raw("],\"commands\":[")
        var commands = ResponsePage(maxBytes: max(0, maxResponseBytes - w.bytes.count), limit: events.cut ? 0 : tree.commands.count)
        for c in tree.commands where commands.isOpen { _ = commands.append(to: &w) { w in w.object { c.writeMembers(to: &$0) } } }
        w.raw(tree.settled ? "],\"settled\":true" : "],\"settled\":false")
        if tree.truncated { w.raw(",\"truncated\":true") }
        if events.cut || commands.cut { w.raw(",\"truncatedByBytes\":true") }
        w.raw("}")
        return JSONResponse.bytes(w, tree.settled ? .ok : .accepted, headers: [.location: "/commands/\(tree.command.id)"])
    }

    /// Passes a waited-for command to its entity's instance; nil when that instance cannot answer (it is
    /// down or shutting down), so that the caller handles it here.
    func forward(_ body: JSONValue, to owner: String, timeoutMs: Int64, request: Request, http: HTTPClient) async -> Response? {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json"), (HTTPField.Name.eventoForwarded.rawName, "1")]
        for name in [HTTPField.Name.authorization, .traceparent] {
            if let value = request.headers[name] { headers.append((name.rawName, value)) }
        }
        let url = owner + "/commands?wait=true&timeoutMs=\(timeoutMs)"
        guard
            let r = try? await http.execute(
                HTTPClientRequest(
                    method: "POST", url: url, headers: headers, body: Array(body.jsonText.utf8), timeout: .milliseconds(timeoutMs) + .seconds(10),
                    collectHeaders: true, maxResponseBytes: maxResponseBytes + 65_536)),
            r.status != 502, r.status != 503, r.status != 504
        else { return nil }
        EventoMetrics.clusterCommandsRouted.increment()
        var fields = HTTPFields()
        for name in ["Content-Type", "Location"] {
            if let value = r.header(name), let field = HTTPField.Name(name) { fields[field] = value }
        }
        return Response(status: HTTPResponse.Status(code: r.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: r.body)))
    }

    /// `GET /aggregates?aggregate=A&FIELD=VALUE…&after=&limit=` → `{"items": [{"entity","version","state"}], "next"}`.
    func aggregates(_ request: Request) async throws -> Response {
        guard let aggregate = request.uri.queryParameters.get("aggregate"), Names.isAvroName(aggregate) else {
            throw EventoError(.invalidRequest, "query parameter aggregate is required: an aggregate name, e.g. aggregate=user", field: "aggregate")
        }
        let limit = Int(try request.queryInt("limit", default: 100, range: 1...1000))
        let after = request.uri.queryParameters.get("after")
        var filters: [(field: String, value: String)] = []
        for (k, v) in request.uri.queryParameters where !["aggregate", "limit", "after"].contains(String(k)) {
            guard Names.isAvroName(String(k)) else {
                throw EventoError(.invalidRequest, "query parameter \(k): not a state field name (filters are FIELD=VALUE on top-level fields)", field: String(k))
            }
            filters.append((String(k), String(v)))
        }
        let found = try await evento.aggregates(aggregate, filters: filters, after: after, limit: limit + 1)
        return ResponsePage.keyed(Array(found.prefix(limit)), more: found.count > limit, maxBytes: maxResponseBytes, key: \.entity.rawValue) { s, o in
            o.field("entity", s.entity.rawValue)
            o.field("version", s.version)
            o.field("state", json: s.state)
        }
    }

    static func rebuilder(_ evento: Evento) throws -> SnapshotRebuilder {
        guard let r = evento.snapshotRebuilder else { throw EventoError(.unavailable, "this store cannot list an aggregate's entities") }
        return r
    }

    static func aggregateName(_ context: Context) throws -> String {
        // Named like the sibling route (/aggregates/:entity): the router wants one name per level.
        let name = try context.parameters.decoded("entity")
        guard Names.isAvroName(name) else { throw EventoError(.invalidRequest, "\"\(name)\" is not an aggregate name", field: "aggregate") }
        return name
    }

    static func write(_ p: SnapshotRebuilder.Progress, to o: inout ObjectWriter) {
        o.field("aggregate", p.aggregate)
        o.field("state", p.state.rawValue)
        o.field("entities", p.entities)
        o.field("events", p.events)
        o.field("failures", p.failures)
        o.field("lastError", p.lastError)
        o.field("startedAt", p.startedAt.description)
        if let f = p.finishedAt { o.field("finishedAt", f.description) }
    }

    func aggregate(_ context: Context) async throws -> Response {
        let text = try context.parameters.decoded("entity")
        let entity: EntityId
        do { entity = try EntityId(parsing: text) } catch { throw EventoError(.invalidRequest, error.description, field: "entity") }
        let a = try await evento.aggregate(entity)
        return JSONResponse.object { o in
            o.field("entity", entity.rawValue)
            o.field("version", a.version)
            o.field("state", json: a.state ?? .null)
            if let lag = a.lag {
                o.field("streamVersion", lag.streamVersion)
                o.field("lagging", true)
                o.field("error", lag.error)
            }
        }
    }
}

extension HTTPField.Name {
    /// Marks a request one instance passed to another (which then never passes it on).
    static let eventoForwarded = HTTPField.Name("Evento-Forwarded")!
}
