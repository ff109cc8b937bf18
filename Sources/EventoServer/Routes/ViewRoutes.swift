import EventoCore
import Hummingbird
import Synchronization

/// The address functions reach this server at (passed to query functions as `eventoUrl`): the advertised
/// URL, else the listening port on the loopback address once it is known.
final class ServerAddress: Sendable {
    private let url: Mutex<String>
    init(_ url: String) { self.url = Mutex(url) }
    var value: String { url.withLock { $0 } }
    func set(_ value: String) { url.withLock { $0 = value } }
}

/// The query side: `GET /views/{view}/{key}`, `GET /views/{view}?prefix=&after=&limit=`,
/// `POST /views/{view}/_get`, `GET /projectors`, `GET /projectors/{name}`, `POST /projectors/{name}/rebuild`,
/// `POST /projectors/{name}/retry`, `GET /queries/{name}?…`.
struct ViewRoutes<Context: RequestContext>: Sendable {
    let evento: Evento
    let address: ServerAddress
    let maxBodyBytes: Int
    let maxResponseBytes: Int

    func register(on router: Router<Context>) {
        router.get("/views/:view/:key") { _, context in
            let view = try Self.viewName(context)
            let key = try context.parameters.decoded("key")
            guard let d = try await evento.view(view, key: key) else {
                throw EventoError.notFound("view \(view) has no document \"\(key)\"")
            }
            return JSONResponse.object { o in
                o.field("key", d.key)
                o.field("doc", json: d.doc)
                o.field("position", d.position)
            }
        }
        router.get("/views/:view") { request, context in
            let view = try Self.viewName(context)
            let prefix = request.uri.queryParameters.get("prefix") ?? ""
            let after = request.uri.queryParameters.get("after")
            let limit = Int(try request.queryInt("limit", default: 100, range: 1...1000))
            let docs = try await evento.viewDocuments(view, prefix: prefix, after: after, limit: limit + 1)
            return list(Array(docs.prefix(limit)), more: docs.count > limit)
        }
        router.post("/views/:view/_get") { request, context in
            var request = request
            let view = try Self.viewName(context)
            var r = try FieldReader(try await request.jsonBody(limit: maxBodyBytes))
            guard let items = try r.array("keys") else { throw EventoError.invalid("keys", "is required: a list of keys") }
            try r.rejectUnknownFields()
            guard items.count <= 1000 else { throw EventoError.invalid("keys", "has \(items.count) keys; at most 1000 are read at once") }
            var keys: [String] = []
            for (i, v) in items.enumerated() {
                guard case .string(let k) = v else { throw EventoError.invalid("keys[\(i)]", "expected string, got \(v.typeName)") }
                keys.append(k)
            }
            return list(try await evento.viewDocuments(view, keys: keys), more: false)
        }
        router.get("/projectors") { _, _ in
            let all = try await evento.projectorList()
            return JSONResponse.object { o in o.array("projectors", all) { w, p in w.object { Self.write(p, to: &$0) } } }
        }
        router.get("/projectors/:name") { _, context in
            let p = try await evento.projector(try context.parameters.decoded("name"))
            return JSONResponse.object { Self.write(p, to: &$0) }
        }
        router.post("/projectors/:name/rebuild") { _, context in
            let p = try await evento.rebuild(projector: try context.parameters.decoded("name"))
            return JSONResponse.object(.accepted) { Self.write(p, to: &$0) }
        }
        router.post("/projectors/:name/retry") { _, context in
            let p = try await evento.retry(projector: try context.parameters.decoded("name"))
            return JSONResponse.object(.accepted) { Self.write(p, to: &$0) }
        }
        router.get("/queries/:name") { request, context in
            let name = try context.parameters.decoded("name")
            let params = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
            let result = try await evento.query(name, params: params, eventoURL: address.value)
            var w = JSONWriter(capacity: 1024)
            w.value(result)
            guard w.bytes.count <= maxResponseBytes else {
                throw EventoError(.functionFailed, "query \(name) answered \(w.bytes.count) bytes; the limit is \(maxResponseBytes)")
            }
            return JSONResponse.bytes(w)
        }
    }

    static func viewName(_ context: Context) throws -> String {
        let view = try context.parameters.decoded("view")
        guard Names.isViewName(view) else {
            throw EventoError(.invalidRequest, "\"\(view)\" is not a view name (a letter, then letters, digits, _ - .)", field: "view")
        }
        return view
    }

    func list(_ docs: [ViewDocument], more: Bool) -> Response {
        ResponsePage.keyed(docs, more: more, maxBytes: maxResponseBytes, key: \.key) { d, o in
            o.field("key", d.key)
            o.field("doc", json: d.doc)
            o.field("position", d.position)
        }
    }

    static func write(_ p: Evento.ProjectorStatus, to o: inout ObjectWriter) {
        o.field("name", p.state.name)
        o.field("cursor", p.state.cursor)
        o.field("lag", p.lag)
        o.field("generation", p.state.generation)
        o.field("state", p.state.status.rawValue)
        o.field("lastError", p.state.lastError)
        if let r = p.state.rebuildCursor { o.field("rebuildCursor", r) }
        if let f = p.function { o.array("events", f.events) { $0.string($1) } }
        o.field("updatedAt", p.state.updatedAt.description)
    }
}
