import EventoCore
import EventoFunctions
import Hummingbird

/// `POST /functions`, `GET /functions`, `GET /functions/{name}`, `PUT /functions/{name}`, `DELETE /functions/{name}`.
struct FunctionRoutes<Context: RequestContext>: Sendable {
    let registry: FunctionRegistry
    let maxBodyBytes: Int

    func register(on router: Router<Context>) {
        router.post("/functions") { request, _ in
            var request = request
            let parsed = try FunctionDefinition.parse(try await request.jsonBody(limit: maxBodyBytes))
            let definition = try await registry.register(parsed)
            return JSONResponse.make(.created, headers: [.location: "/functions/\(definition.name)"]) { $0.value(definition.json) }
        }
        // A full definition: registers the function (201) or replaces it (200) with a rolling swap, no call failed.
        router.put("/functions/:name") { request, context in
            let name = try context.parameters.decoded("name")
            var request = request
            var body = try await request.jsonBody(limit: maxBodyBytes)
            if var object = body.objectValue {
                // The body may leave the name out; when it gives one, it is the path's.
                if let named = object["name"], named != .string(name) {
                    throw EventoError(.invalidRequest, "name: the body names \(named.jsonText), the path \(name)", field: "name")
                }
                object["name"] = .string(name)
                body = .object(object)
            }
            let (definition, created) = try await registry.put(try FunctionDefinition.parse(body))
            return JSONResponse.make(created ? .created : .ok, headers: [.location: "/functions/\(definition.name)"]) { $0.value(definition.json) }
        }
        router.get("/functions") { request, _ in
            let all = registry.list()
            return JSONResponse.object { o in o.array("functions", all) { w, f in w.value(f.json) } }
        }
        router.get("/functions/:name") { request, context in
            let name = try context.parameters.decoded("name")
            guard let f = registry.function(named: name) else { throw EventoError.notFound("no function named \(name)") }
            var json = f.json.objectValue ?? [:]
            if let status = registry.status(of: name) { json["status"] = status }
            return JSONResponse.make { $0.value(.object(json)) }
        }
        router.delete("/functions/:name") { request, context in
            let name = try context.parameters.decoded("name")
            guard try await registry.remove(name) else { throw EventoError.notFound("no function named \(name)") }
            return Response(status: .noContent)
        }
    }
}
