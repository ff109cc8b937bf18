import CoreMetrics
import EventoCore
import Hummingbird
import ServiceLifecycle

/// `POST /commands`, `GET /commands/{id}`, `GET /aggregates/{entity}`.
struct CommandRoutes<Context: RequestContext>: Sendable {
    let store: any PipelineStore
    let functions: any FunctionDirectory
    let processor: CommandProcessor
    let aggregates: Aggregates
    let validator: any SchemaValidator
    let maxBodyBytes: Int
    /// Largest answer with the events of a command (`?wait=true`), in bytes.
    let maxResponseBytes: Int

    func register(on router: Router<Context>) {
        router.post("/commands") { request, _ in try await self.send(request) }
        router.get("/commands/:id") { _, context in
            let id = try context.parameters.decoded("id")
            guard let c = try await store.command(id: id) else { throw EventoError.notFound("no command with id \"\(id)\"") }
            return JSONResponse.object { c.writeMembers(to: &$0) }
        }
        router.get("/aggregates/:entity") { _, context in try await self.aggregate(context) }
    }

    func send(_ request: Request) async throws -> Response {
        var request = request
        // Query parameters first: a request that gets a 4xx writes nothing.
        let wait = try request.queryBool("wait", default: false)
        let timeoutMs = try request.queryInt("timeoutMs", default: 30_000, range: 1...300_000)
        let body = try await request.jsonBody(limit: maxBodyBytes)
        var r = try FieldReader(body)
        let id = try r.string("id") ?? Identifiers.uuidV7()
        if let problem = Names.validateId(id) { throw EventoError.invalid("id", problem) }
        let entityText = try r.requireString("entity")
        let entity: EntityId
        do { entity = try EntityId(parsing: entityText) } catch { throw EventoError.invalid("entity", error.description) }
        let type = try r.requireString("type")
        guard Names.isAvroName(type) else { throw EventoError.invalid("type", "\"\(type)\" is not a type name ([A-Za-z_][A-Za-z0-9_]*)") }
        let payloadValue = try r.require("payload")
        guard case .object = payloadValue else { throw EventoError.invalid("payload", "expected object, got \(payloadValue.typeName)") }
        var cause = ClientCause()
        cause.causationId = try r.string("causationId")
        if let kind = try r.string("causationKind") {
            guard let k = CausationKind(rawValue: kind) else {
                throw EventoError.invalid("causationKind", "expected one of command, event, external, got \"\(kind)\"")
            }
            cause.causationKind = k
        }
        cause.correlationId = try r.string("correlationId")
        cause.traceparent = try r.string("traceparent")
        try r.rejectUnknownFields()
        let (payload, _) = try validator.validateCommand(aggregate: entity.aggregate, type: type, payload: RawJSON(payloadValue), field: "payload")
        guard functions.handler(for: entity.aggregate) != nil else {
            throw EventoError(
                .unknownReference, "no handler is registered for aggregate \(entity.aggregate); register one with POST /functions",
                field: "entity")
        }
        let resolved = try await CauseResolver(store: store).resolve(cause, ownId: id, headerTraceparent: request.headers[.traceparent])
        let submitted = try await store.submit([
            NewCommand(
                id: id, entity: entity, type: type, payload: payload, causationId: resolved.causationId,
                causationKind: resolved.causationKind, correlationId: resolved.correlationId, traceparent: resolved.traceparent)
        ])[0]
        if submitted.isNew {
            EventoMetrics.commandsAccepted.increment()
            processor.submit([submitted.record])
        }
        let location: HTTPFields = [.location: "/commands/\(id)"]

        guard wait else {
            return JSONResponse.object(.accepted, headers: location) { o in
                o.field("id", id)
                o.field("status", submitted.record.status.rawValue)
            }
        }
        let store = self.store
        let processor = self.processor
        // At shutdown the wait ends at once (the server waits for answers in flight before it exits): the
        // client gets the 202 with the current status, as at the deadline.
        let final = await cancelWhenGracefulShutdown {
            await processor.completions.wait(for: id, timeout: .milliseconds(timeoutMs)) {
                guard let c = try? await store.command(id: id), c.status.isFinal else { return nil }
                return c
            }
        }
        guard let final else {
            let current = try await store.command(id: id)
            return JSONResponse.object(.accepted, headers: location) { o in
                o.field("id", id)
                o.field("status", (current?.status ?? .pending).rawValue)
            }
        }
        // The events, as many as fit in the byte limit (the command's resultEventIds name them all).
        var w = JSONWriter(capacity: 4096)
        w.raw("{\"command\":")
        w.object { final.writeMembers(to: &$0) }
        w.raw(",\"events\":[")
        var page = ResponsePage(maxBytes: maxResponseBytes, limit: final.resultEventIds.count)
        for eventId in final.resultEventIds {
            guard page.isOpen else { break }
            if let e = try await store.event(id: eventId) { _ = page.append(to: &w) { e.write(to: &$0) } }
        }
        w.raw("]")
        if page.cut { w.raw(",\"truncatedByBytes\":true") }
        w.raw("}")
        return JSONResponse.bytes(w, .ok, headers: location)
    }

    func aggregate(_ context: Context) async throws -> Response {
        let text = try context.parameters.decoded("entity")
        let entity: EntityId
        do { entity = try EntityId(parsing: text) } catch { throw EventoError(.invalidRequest, error.description, field: "entity") }
        do {
            let a = try await aggregates.current(entity)
            return JSONResponse.object { o in
                o.field("entity", entity.rawValue)
                o.field("version", a.version)
                o.field("state", json: a.state ?? .null)
            }
        } catch let e as FunctionCallError {
            // The aggregator cannot catch the snapshot up: serve what is stored, and say it lags.
            let snapshot = try await store.snapshot(of: entity)
            let version = try await store.version(of: entity)
            return JSONResponse.object { o in
                o.field("entity", entity.rawValue)
                o.field("version", snapshot?.version ?? 0)
                o.field("state", json: snapshot?.state ?? .null)
                o.field("streamVersion", version)
                o.field("lagging", true)
                o.field("error", e.description)
            }
        }
    }
}
