import EventoCore
import Hummingbird

/// `POST /commands`, `GET /commands/{id}`, `GET /aggregates/{entity}`.
struct CommandRoutes<Context: RequestContext>: Sendable {
    let evento: Evento
    let maxBodyBytes: Int

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
        let draft = try SubmissionParser.command(try await request.jsonBody(limit: maxBodyBytes))
        let wait = try request.queryBool("wait", default: false)
        let timeoutMs = try request.queryInt("timeoutMs", default: 30_000, range: 1...300_000)
        let reply = try await evento.submit(
            draft, wait: wait ? .milliseconds(timeoutMs) : nil, headerTraceparent: request.headers[.traceparent])
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
            return JSONResponse.object(.ok, headers: [.location: "/commands/\(record.id)"]) { o in
                o.object("command") { record.writeMembers(to: &$0) }
                o.array("events", events) { w, e in e.write(to: &w) }
            }
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
