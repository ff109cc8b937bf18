import EventoCore
import Hummingbird

/// `GET /dead-letters`, `POST /dead-letters/{id}/retry`: commands and dispatches that failed for good.
struct DeadLetterRoutes<Context: RequestContext>: Sendable {
    let store: any PipelineStore
    let functions: any FunctionDirectory
    let processor: CommandProcessor
    let relay: DispatchRelay
    let admin: AdminAuth

    func register(on router: Router<Context>) {
        router.get("/dead-letters") { request, _ in
            try admin.check(request)
            let limit = Int(try request.queryInt("limit", default: 100, range: 1...10_000))
            let commands = try await store.deadCommands(limit: limit)
            let dispatches = try await store.deadDispatches(limit: limit)
            return JSONResponse.object { o in
                o.key("deadLetters")
                o.writer.array(0..<(commands.count + dispatches.count)) { w, i in
                    if i < commands.count {
                        let c = commands[i]
                        w.object { o in
                            o.field("id", c.id)
                            o.field("kind", "command")
                            o.field("function", functions.handler(for: c.entity.aggregate)?.name)
                            o.field("attempts", c.attempts)
                            o.field("lastError", c.lastError)
                            o.field("time", c.updatedAt.description)
                            o.object("command") { c.writeMembers(to: &$0) }
                        }
                    } else {
                        let d = dispatches[i - commands.count]
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
            if let command = try await store.command(id: id) {
                guard command.status == .dead || command.status == .failed else {
                    throw EventoError(.conflict, "command \(id) is \(command.status.rawValue); only dead or failed commands can be retried")
                }
                guard let revived = try await store.revive(commandId: id) else { throw EventoError.notFound("no command with id \"\(id)\"") }
                processor.submit([revived])
                return JSONResponse.object(.accepted, headers: [.location: "/commands/\(id)"]) { o in
                    o.field("id", id)
                    o.field("kind", "command")
                    o.field("status", revived.status.rawValue)
                }
            }
            guard let dead = try await store.deadDispatch(id: id) else { throw EventoError.notFound("no dead letter with id \"\(id)\"") }
            let commands = try await relay.retry(dead)
            return JSONResponse.object { o in
                o.field("id", id)
                o.field("kind", "dispatch")
                o.array("commands", commands) { w, c in w.object { c.writeMembers(to: &$0) } }
            }
        }
    }
}
