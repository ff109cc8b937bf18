import EventoCore

extension OpenAPIDocument {
    /// The document as served: the hand-written paths (`json`) completed with what every route shares, so
    /// that no operation forgets an answer the middleware gives: 401 and 403 (tokens, Host, Origin) on every
    /// route that needs a token, 400 where there are parameters, 404 where the path names something, the
    /// body's 408/413/415/422 where there is one, 503 (the store cannot write: a full disk) on every write.
    /// Integer parameters without a maximum get int64's. The schema registry's routes answer these in
    /// Confluent's error format.
    static let served: String = complete(json)

    static func complete(_ text: String) -> String {
        guard case .object(var doc)? = try? JSONParser.parse(Array(text.utf8)), case .object(var paths)? = doc["paths"] else {
            preconditionFailure("OpenAPIDocument.json is not a JSON object with paths")
        }
        for member in paths {
            guard case .object(var item) = member.value else { continue }
            for method in ["get", "put", "post", "delete", "patch"] {
                guard case .object(var op)? = item[method] else { continue }
                complete(&op, method: method, path: member.key)
                item[method] = .object(op)
            }
            paths[member.key] = .object(item)
        }
        doc["paths"] = .object(paths)
        return JSONValue.object(doc).jsonText
    }

    private static func complete(_ op: inout JSONObject, method: String, path: String) {
        let isOpen = op["security"]?.arrayValue?.isEmpty == true
        let registry = ProblemMiddleware<EventoRequestContext>.isSchemaRegistryPath(path)
        func error(_ name: String) -> JSONValue {
            .object(["$ref": .string("#/components/responses/" + (registry ? "ConfluentError" : name))])
        }
        guard case .object(var responses)? = op["responses"] else { return }
        func add(_ status: String, _ response: JSONValue) { if responses[status] == nil { responses[status] = response } }
        if !isOpen { add("401", error("Unauthorized")) }
        add("403", error("Forbidden"))
        let parameters = op["parameters"]?.arrayValue ?? []
        let hasBody = op["requestBody"] != nil
        if !parameters.isEmpty || hasBody || path.contains("{") { add("400", error("Problem")) }
        if path.contains("{") { add("404", error("Problem")) }
        if hasBody {
            add("408", error("RequestTimeout"))
            add("413", error("Problem"))
            add("415", error("UnsupportedMediaType"))
            add("422", error("Problem"))
        }
        if method != "get" { add("503", error("Problem")) }
        op["responses"] = .object(responses)
        op["parameters"] = parameters.isEmpty ? nil : .array(parameters.map(bounded))
    }

    /// An inline integer parameter without a maximum gets int64's (the largest the server reads).
    private static func bounded(_ parameter: JSONValue) -> JSONValue {
        guard case .object(var p) = parameter, case .object(var schema)? = p["schema"], schema["type"] == "integer" else { return parameter }
        if schema["maximum"] == nil { schema["maximum"] = .int(Int64.max) }
        if schema["minimum"] == nil { schema["minimum"] = .int(0) }
        p["schema"] = .object(schema)
        return .object(p)
    }
}
