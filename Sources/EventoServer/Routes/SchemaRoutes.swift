import EventoAvro
import EventoCore
import HTTPTypes
import Hummingbird
import NIOCore

/// Aggregate schemas (`GET/PUT /schemas/{aggregate}`) and the Confluent Schema Registry REST subset that
/// Kafka clients use (`/schemas/ids`, `/subjects`, `/compatibility`, `/config`), with its content type and
/// error format (`{"error_code", "message"}`).
struct SchemaRoutes<Context: RequestContext>: Sendable {
    let registry: SchemaRegistry
    let maxBodyBytes: Int


    func register(on router: Router<Context>) {
        // Evento's own: one schema file per aggregate.
        router.get("/schemas") { _, _ in
            let all = registry.aggregateVersions()
            return JSONResponse.object { o in
                o.array("aggregates", all) { w, a in
                    w.object { o in
                        o.field("aggregate", a.aggregate)
                        o.field("version", a.version)
                    }
                }
            }
        }
        router.get("/schemas/:aggregate") { _, context in
            let aggregate = try context.parameters.decoded("aggregate")
            guard let def = registry.aggregateDefinition(aggregate) else { throw EventoError.notFound("aggregate \(aggregate) has no schema") }
            return JSONResponse.object { o in
                o.field("aggregate", aggregate)
                o.field("version", def.version)
                o.field("schema", value: def.definition)
                o.field("schemaIds", value: .object(JSONObject(def.ids.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: .int(Int64($0.value))) })))
            }
        }
        router.put("/schemas/:aggregate") { request, context in
            var request = request
            let aggregate = try context.parameters.decoded("aggregate")
            let body = try await request.jsonBody(limit: maxBodyBytes)
            let result = try await registry.put(aggregate: aggregate, definition: body)
            return JSONResponse.object(result.changed ? .created : .ok) { o in
                o.field("aggregate", aggregate)
                o.field("version", result.version)
                o.field("changed", result.changed)
                o.array("subjects", result.subjects) { w, s in
                    w.object { o in
                        o.field("subject", s.subject)
                        o.field("version", s.version)
                        o.field("id", s.id)
                    }
                }
            }
        }

        // Confluent Schema Registry subset.
        router.get("/schemas/ids/:id") { _, context in
            try confluent {
                guard let id = Int(try context.parameters.decoded("id")), let text = registry.schemaText(id: id) else {
                    throw SchemaRegistry.Failure.schemaNotFound()
                }
                return ["schema": .string(text)]
            }
        }
        router.get("/schemas/ids/:id/schema") { _, context in
            try confluent {
                guard let id = Int(try context.parameters.decoded("id")), let text = registry.schemaText(id: id) else {
                    throw SchemaRegistry.Failure.schemaNotFound()
                }
                return try JSONParser.parse(text)
            }
        }
        router.get("/subjects") { _, _ in try confluent { .array(registry.subjects().map(JSONValue.string)) } }
        router.get("/subjects/:subject/versions") { _, context in
            let subject = try context.parameters.decoded("subject")
            return try confluent { .array(try registry.versions(of: subject).map { .int(Int64($0)) }) }
        }
        router.get("/subjects/:subject/versions/:version") { _, context in
            let subject = try context.parameters.decoded("subject")
            let version = try context.parameters.decoded("version")
            return try confluent {
                let v = try registry.version(version, of: subject)
                return ["subject": .string(subject), "version": .int(Int64(v.version)), "id": .int(Int64(v.id)), "schema": .string(v.schema)]
            }
        }
        router.get("/subjects/:subject/versions/:version/schema") { _, context in
            let subject = try context.parameters.decoded("subject")
            let version = try context.parameters.decoded("version")
            return try confluent { try JSONParser.parse(try registry.version(version, of: subject).schema) }
        }
        router.post("/subjects/:subject/versions") { request, context in
            let subject = try context.parameters.decoded("subject")
            let text = try await schemaText(request)
            return try await confluentAsync { ["id": .int(Int64(try await registry.register(subject: subject, schema: text)))] }
        }
        router.post("/subjects/:subject") { request, context in
            let subject = try context.parameters.decoded("subject")
            let text = try await schemaText(request)
            return try confluent {
                guard registry.subjects().contains(subject) else { throw SchemaRegistry.Failure.subjectNotFound(subject) }
                guard let found = try registry.lookup(subject: subject, schema: text) else { throw SchemaRegistry.Failure.schemaNotFound() }
                let v = try registry.version(String(found.version), of: subject)
                return ["subject": .string(subject), "version": .int(Int64(found.version)), "id": .int(Int64(found.id)), "schema": .string(v.schema)]
            }
        }
        router.post("/compatibility/subjects/:subject/versions/:version") { request, context in
            let subject = try context.parameters.decoded("subject")
            let version = try context.parameters.decoded("version")
            let text = try await schemaText(request)
            return try confluent {
                let problems = try registry.compatibilityProblems(subject: subject, schema: text, version: version)
                return ["is_compatible": .bool(problems.isEmpty), "messages": .array(problems.map(JSONValue.string))]
            }
        }
        router.get("/config") { _, _ in
            try confluent { ["compatibilityLevel": .string(registry.compatibility(subject: nil)!.rawValue)] }
        }
        router.put("/config") { request, _ in
            let level = try await levelText(request)
            return try await confluentAsync { ["compatibility": .string(try await registry.setCompatibility(level, subject: nil).rawValue)] }
        }
        router.get("/config/:subject") { request, context in
            let subject = try context.parameters.decoded("subject")
            let defaultToGlobal = try request.queryBool("defaultToGlobal", default: false)
            return try confluent {
                if let level = registry.compatibility(subject: subject) { return ["compatibilityLevel": .string(level.rawValue)] }
                guard defaultToGlobal else {
                    throw SchemaRegistry.Failure(code: 40408, message: "Subject '\(subject)' does not have subject-level compatibility configured")
                }
                return ["compatibilityLevel": .string(registry.compatibility(subject: nil)!.rawValue)]
            }
        }
        router.put("/config/:subject") { request, context in
            let subject = try context.parameters.decoded("subject")
            let level = try await levelText(request)
            return try await confluentAsync { ["compatibility": .string(try await registry.setCompatibility(level, subject: subject).rawValue)] }
        }
    }

    /// `{"schema": "<schema JSON as a string>", "schemaType"?: "AVRO"}`.
    func schemaText(_ request: Request) async throws -> String {
        var request = request
        let body: JSONValue
        do { body = try await request.jsonBody(limit: maxBodyBytes) } catch let e as EventoError {
            throw ConfluentError(SchemaRegistry.Failure(code: e.code == .payloadTooLarge ? 413 : 42201, message: e.message))
        }
        if let type = body["schemaType"]?.stringValue, type != "AVRO" {
            throw ConfluentError(SchemaRegistry.Failure(code: 42201, message: "Invalid schema: only AVRO schemas are supported, got \(type)"))
        }
        guard let text = body["schema"]?.stringValue else {
            throw ConfluentError(SchemaRegistry.Failure(code: 42201, message: "Invalid schema: the body needs \"schema\", the schema's JSON as a string"))
        }
        return text
    }

    func levelText(_ request: Request) async throws -> String {
        var request = request
        let body = try await request.jsonBody(limit: maxBodyBytes)
        guard let level = body["compatibility"]?.stringValue ?? body["compatibilityLevel"]?.stringValue else {
            throw ConfluentError(SchemaRegistry.Failure(code: 42203, message: "the body needs \"compatibility\""))
        }
        return level
    }

    func confluent(_ body: () throws -> JSONValue) throws -> Response {
        do { return Self.response(try body()) } catch let f as SchemaRegistry.Failure { throw ConfluentError(f) }
    }

    func confluentAsync(_ body: () async throws -> JSONValue) async throws -> Response {
        do { return Self.response(try await body()) } catch let f as SchemaRegistry.Failure { throw ConfluentError(f) }
    }

    static func response(_ value: JSONValue) -> Response {
        var w = JSONWriter()
        w.value(value)
        return Response(status: .ok, headers: [.contentType: confluentContentType], body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }
}

/// The content type of the Confluent Schema Registry API.
let confluentContentType = "application/vnd.schemaregistry.v1+json"

/// A Confluent-format error response: `{"error_code": 40401, "message": "…"}`.
struct ConfluentError: HTTPResponseError {
    let failure: SchemaRegistry.Failure
    /// Extra response headers (`WWW-Authenticate` on a 401).
    var headers: HTTPFields = [:]
    init(_ failure: SchemaRegistry.Failure, headers: HTTPFields = [:]) {
        self.failure = failure
        self.headers = headers
    }

    var status: HTTPResponse.Status { HTTPResponse.Status(code: failure.httpStatus) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var w = JSONWriter()
        w.value(["error_code": .int(Int64(failure.code)), "message": .string(failure.message)])
        var headers = self.headers
        headers[.contentType] = confluentContentType
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }
}
