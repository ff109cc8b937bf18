import EventoAvro
import EventoCore
import EventoStore
import NIOCore
import HTTPTypes
import Hummingbird
import ServiceLifecycle

/// `POST /events`, `GET /events/{id}`, `GET /events`, `GET /entities/{entity}/events`.
struct EventRoutes<Context: RequestContext>: Sendable {
    let evento: Evento
    let store: any EventoStorage
    let commits: CommitSignal?
    /// Decodes `payloadAvro` and serves `GET /events/{id}/avro`.
    let schemas: SchemaRegistry
    let maxBodyBytes: Int
    /// Largest answer of a listing (`GET /events`, `GET /entities/{entity}/events`), in bytes.
    let maxResponseBytes: Int

    func register(on router: Router<Context>) {
        router.post("/events") { request, context in try await self.publish(request) }
        router.get("/events") { request, context in try await self.feed(request) }
        router.get("/events/:id") { request, context in try await self.event(context) }
        router.get("/events/:id/avro") { request, context in try await self.avro(context) }
        router.get("/entities/:entity/events") { request, context in try await self.stream(request, context) }
    }

    func publish(_ request: Request) async throws -> Response {
        var request = request
        let (drafts, isBatch) = try SubmissionParser.events(try await request.jsonBody(limit: maxBodyBytes))
        let result: AppendResult
        do {
            result = try await evento.publish(
                drafts, headerTraceparent: request.headers[.traceparent], serverSpan: request.headers[TracingMiddleware<Context>.serverSpan])
        } catch let conflict as VersionConflict where isBatch {
            throw EventoError(
                .versionConflict, "events[\(conflict.index)]: \(conflict.description)", field: "events[\(conflict.index)].expectedVersion",
                extensions: [
                    "entity": .string(conflict.entity.rawValue), "expectedVersion": conflict.expected.json,
                    "actualVersion": .int(conflict.actual), "index": .int(Int64(conflict.index)),
                ])
        }
        var headers: HTTPFields = [:]
        if result.duplicates > 0 { headers[.eventoReplayed] = String(result.duplicates) }
        if isBatch {
            return JSONResponse.object(.created, headers: headers) { o in
                o.array("events", result.events) { w, e in e.write(to: &w) }
            }
        }
        let e = result.events[0]
        headers[.location] = "/events/\(e.id)"
        return JSONResponse.make(.created, headers: headers) { e.write(to: &$0) }
    }

    func event(_ context: Context) async throws -> Response {
        let id = try context.parameters.decoded("id")
        guard let e = try await store.event(id: id) else { throw EventoError.notFound("no event with id \"\(id)\"") }
        return JSONResponse.make { e.write(to: &$0) }
    }

    /// The event's payload in the Confluent wire format: what a Kafka consumer of kf-evento-events gets.
    func avro(_ context: Context) async throws -> Response {
        let id = try context.parameters.decoded("id")
        guard let e = try await store.event(id: id) else { throw EventoError.notFound("no event with id \"\(id)\"") }
        guard let schemaId = e.schemaId else {
            throw EventoError.notFound("event \"\(id)\" was stored without a schema, so it has no Avro form")
        }
        let bytes = try schemas.wireFormat(schemaId: schemaId, payload: e.payload)
        return Response(
            status: .ok, headers: [.contentType: "application/vnd.confluent.avro", .eventoSchemaId: String(schemaId)],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    func feed(_ request: Request) async throws -> Response {
        let after = try request.queryInt("afterPosition", default: 0, range: 0...Int64.max)
        let limit = Int(try request.queryInt("limit", default: 1000, range: 1...10_000))
        let waitMs = try request.queryInt("waitMs", default: 0, range: 0...60_000)
        var page = try await feedPage(after: after, limit: limit)
        if page.count == 0, waitMs > 0, let commits {
            // Long poll: answer as soon as something beyond `after` commits, at the deadline, or at once when
            // the server starts shutting down (it waits for answers in flight before it exits).
            let head = await withGracefulShutdownHandler {
                await commits.longPoll(after: after, timeout: .milliseconds(waitMs))
            } onGracefulShutdown: {
                commits.endLongPolls()
            }
            if head > after { page = try await feedPage(after: after, limit: limit) }
        }
        return JSONResponse.bytes(page.json)
    }

    /// `{"events": […], "lastPosition": N}` (and `"truncatedByBytes": true` when the byte limit ended the
    /// page), read from the store in chunks so that neither the answer nor what is read for it grows much
    /// past the byte limit. `lastPosition` is where the next page starts.
    func feedPage(after: Int64, limit: Int) async throws -> (json: JSONWriter, count: Int) {
        var w = JSONWriter(capacity: 4096)
        w.raw("{\"events\":[")
        var page = ResponsePage(maxBytes: maxResponseBytes, limit: limit)
        var last = after
        reading: while let n = page.nextChunk(written: w.bytes.count) {
            let chunk = try await store.events(afterPosition: last, limit: n)
            for e in chunk {
                guard page.append(to: &w, { e.write(to: &$0) }) else { break reading }
                last = e.position
            }
            if chunk.count < n { break }
        }
        w.raw("],\"lastPosition\":")
        w.int(last)
        if page.cut { w.raw(",\"truncatedByBytes\":true") }
        w.raw("}")
        return (w, page.count)
    }

    /// `{"entity", "events": […], "nextSequence"}`, bounded like the feed; `nextSequence` is where the next
    /// page starts (`fromSequence`).
    func stream(_ request: Request, _ context: Context) async throws -> Response {
        let text = try context.parameters.decoded("entity")
        let entity: EntityId
        do { entity = try EntityId(parsing: text) } catch { throw EventoError(.invalidRequest, error.description, field: "entity") }
        let from = try request.queryInt("fromSequence", default: 1, range: 1...Int64.max)
        let limit = Int(try request.queryInt("limit", default: 1000, range: 1...10_000))
        var w = JSONWriter(capacity: 4096)
        w.raw("{\"entity\":")
        w.string(entity.rawValue)
        w.raw(",\"events\":[")
        var page = ResponsePage(maxBytes: maxResponseBytes, limit: limit)
        var next = from
        reading: while let n = page.nextChunk(written: w.bytes.count) {
            let chunk = try await store.events(entity: entity, fromSequence: next, limit: n)
            for e in chunk {
                guard page.append(to: &w, { e.write(to: &$0) }) else { break reading }
                next = e.sequence + 1
            }
            if chunk.count < n { break }
        }
        w.raw("],\"nextSequence\":")
        w.int(next)
        if page.cut { w.raw(",\"truncatedByBytes\":true") }
        w.raw("}")
        return JSONResponse.bytes(w)
    }
}

extension HTTPField.Name {
    static let traceparent = HTTPField.Name("traceparent")!
    /// How many of the returned events were already stored (idempotent replays).
    static let eventoReplayed = HTTPField.Name("Evento-Replayed")!
    static let eventoSchemaId = HTTPField.Name("Evento-Schema-Id")!
}
