import EventoCore
import Hummingbird
import ServiceLifecycle

/// `POST /commands`, `GET /commands/{id}`, `GET /aggregates/{entity}`.
struct CommandRoutes<Context: RequestContext>: Sendable {
    let evento: Evento
    let maxBodyBytes: Int
    /// Largest answer with the events of a command (`?wait=true`), in bytes.
    let maxResponseBytes: Int

    func register(on router: Router<Context>) {
        router.post("/commands") { request, _ in try await self.send(request) }
        router.get("/commands/:id") { _, context in
            let id = try context.parameters.decoded("id")
            guard let c = try await evento.command(id: id) else { throw EventoError.notFound("no command with id \"\(id)\"") }
            return JSONResponse.object { c.writeMembers(to: &$0) }
        }
        router.get("/aggregates/:entity") { _, context in try await self.aggregate(context) }
    }

    func send(_ request: Request) async throws -> Response {
        var request = request
        // Query parameters first: a request that gets a 4xx writes nothing.
        let wait = try request.queryBool("wait", default: false)
        let timeoutMs = try request.queryInt("timeoutMs", default: 30_000, range: 1...300_000)
        let draft = try SubmissionParser.command(try await request.jsonBody(limit: maxBodyBytes))
        let evento = self.evento
        let traceparent = request.headers[.traceparent]
        let reply: Evento.CommandReply
        if wait {
            // At shutdown the wait ends at once (the server waits for answers in flight before it exits): the
            // client gets the 202, as at the deadline. Cancelling ends only the wait (`Waiters.wait` returns nil);
            // the command is logged before the 202 either way.
            reply = try await cancelWhenGracefulShutdown {
                try await evento.submit(draft, wait: .milliseconds(timeoutMs), headerTraceparent: traceparent)
            }
        } else {
            reply = try await evento.submit(draft, wait: nil, headerTraceparent: traceparent)
        }
        switch reply {
        case .accepted(let record):
            return JSONResponse.object(.accepted, headers: [.location: "/commands/\(record.id)"]) { o in
                o.field("id", record.id)
                o.field("status", record.status.rawValue)
            }
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
