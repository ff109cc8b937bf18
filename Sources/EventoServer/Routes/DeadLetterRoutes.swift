import EventoCore
import Hummingbird

/// `GET /dead-letters`, `POST /dead-letters/{id}/retry`: commands and dispatches that failed for good.
struct DeadLetterRoutes<Context: RequestContext>: Sendable {
    let evento: Evento
    /// Largest answer of the listing, in bytes.
    let maxResponseBytes: Int

    func register(on router: Router<Context>) {
        router.get("/dead-letters") { request, _ in try await self.list(request) }
        router.post("/dead-letters/:id/retry") { request, context in
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

    /// `{"deadLetters": […]}`, newest first. Under the byte limit each dead command carries its envelope;
    /// past it the rest are listed without it (`"commandOmitted": true`: `GET /commands/{id}` has it) and
    /// the answer says `"truncatedByBytes": true`; entries that do not fit even so are left out.
    func list(_ request: Request) async throws -> Response {
        let limit = Int(try request.queryInt("limit", default: 100, range: 1...10_000))
        let letters = try await evento.deadLetters(limit: limit)
        var w = JSONWriter(capacity: 4096)
        w.raw("{\"deadLetters\":[")
        var count = 0
        let maxBytes = maxResponseBytes
        /// Appends an entry unless it takes the answer past the byte limit (the first always goes in).
        func append(_ body: (inout JSONWriter) -> Void) -> Bool {
            let mark = w.bytes.count
            if count > 0 { w.bytes.append(UInt8(ascii: ",")) }
            body(&w)
            if count > 0 && w.bytes.count + ResponsePage.reserve > maxBytes {
                w.bytes.removeSubrange(mark...)
                return false
            }
            count += 1
            return true
        }
        var omitting = false
        var cut = false
        for letter in letters where !cut {
            switch letter {
            case .command(let c, let function):
                if !omitting {
                    let fits = append { w in
                        w.object { o in
                            Self.commandMembers(c, function: function, lastError: c.lastError, to: &o)
                            o.object("command") { c.writeMembers(to: &$0) }
                        }
                    }
                    if fits { continue }
                    omitting = true
                }
                let fits = append { w in
                    w.object { o in
                        Self.commandMembers(c, function: function, lastError: c.lastError.map(Self.excerpt), to: &o)
                        o.field("commandOmitted", true)
                    }
                }
                if !fits { cut = true }
            case .dispatch(let d):
                let fits = append { w in
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
                if !fits { cut = true }
            }
        }
        w.raw("]")
        if cut || omitting { w.raw(",\"truncatedByBytes\":true") }
        w.raw("}")
        return JSONResponse.bytes(w)
    }

    static func commandMembers(_ c: CommandRecord, function: String?, lastError: String?, to o: inout ObjectWriter) {
        o.field("id", c.id)
        o.field("kind", "command")
        o.field("function", function)
        o.field("attempts", c.attempts)
        o.field("lastError", lastError)
        o.field("time", c.updatedAt.description)
    }

    static func excerpt(_ s: String) -> String { s.count > 500 ? String(s.prefix(500)) + "…" : s }
}
