import EventoCore
import Hummingbird

/// `GET /dead-letters`, `POST /dead-letters/{id}/retry`: commands and dispatches that failed for good.
struct DeadLetterRoutes<Context: RequestContext>: Sendable {
    let evento: Evento
    let admin: AdminAuth

    func register(on router: Router<Context>) {
        router.get("/dead-letters") { request, _ in
            try admin.check(request)
            let limit = Int(try request.queryInt("limit", default: 100, range: 1...10_000))
            let letters = try await evento.deadLetters(limit: limit)
            return JSONResponse.object { o in
                o.array("deadLetters", letters) { w, letter in
                    switch letter {
                    case .command(let c, let function):
                        w.object { o in
                            o.field("id", c.id)
                            o.field("kind", "command")
                            o.field("function", function)
                            o.field("attempts", c.attempts)
                            o.field("lastError", c.lastError)
                            o.field("time", c.updatedAt.description)
                            o.object("command") { c.writeMembers(to: &$0) }
                        }
                    case .dispatch(let d):
                        w.object { o in
                            o.field("id", d.id)
                            o.field("kind", "dispatch")
                            o.field("function", d.dispatcher)
                            o.field("attempts", d.attempts)
                            o.field("lastError", d.lastError)
                            o.field("time", d.createdAt.description)
                            o.field("eventId", d.eventId)
                        }
                    }
                }
            }
        }
        router.post("/dead-letters/:id/retry") { request, context in
            try admin.check(request)
            let id = try context.parameters.decoded("id")
            switch try await evento.retryDeadLetter(id: id) {
            case .command(let revived):
                return JSONResponse.object(.accepted, headers: [.location: "/commands/\(id)"]) { o in
                    o.field("id", id)
                    o.field("kind", "command")
                    o.field("status", revived.status.rawValue)
                }
            case .dispatch(let commands):
                return JSONResponse.object { o in
                    o.field("id", id)
                    o.field("kind", "dispatch")
                    o.array("commands", commands) { w, c in w.object { c.writeMembers(to: &$0) } }
                }
            }
        }
    }
}
