import EventoAvro
import EventoCore
import Hummingbird
import Logging
import NIOCore

/// Turns every error a route throws into a problem+json response, and logs the unexpected ones.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The routes, to answer 405 with `Allow` to a method a known path does not have.
    var routes: RouteTable?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as HTTPError where e.status == .notFound && e.body == nil {
            // No route took the request: a path that exists under other methods is a 405, not a 404.
            let allowed = routes?.methods(for: request.uri.path) ?? []
            // (A path the router's trie resolved elsewhere can look like another route's with this very
            // method, e.g. GET /schemas/ids beside GET /schemas/{aggregate}: that stays a 404.)
            guard !allowed.isEmpty, !allowed.contains(request.method.rawValue) else {
                return try Self.response(for: e, request: request, context: context)
            }
            let refusal = HTTPError(
                .methodNotAllowed, headers: [.allow: allowed.joined(separator: ", ")],
                message: "\(request.method) is not allowed on \(request.uri.path); allowed: \(allowed.joined(separator: ", "))")
            return try Self.response(for: refusal, request: request, context: context)
        } catch {
            return try Self.response(for: error, request: request, context: context)
        }
    }

    /// The error as the client gets it: problem+json, or Confluent's format on the schema registry's routes.
    static func response(for error: any Error, request: Request, context: Context) throws -> Response {
        var problem = Self.problem(for: error, request: request, context: context)
        if problem.passthrough == nil && isSchemaRegistryPath(request.uri.path) {
            // Kafka clients parse Confluent's error format on these routes, whatever went wrong.
            problem.passthrough = ConfluentError(.init(code: Int(problem.status.code), message: problem.error.message), headers: problem.headers)
        }
        if let passthrough = problem.passthrough { return try passthrough.response(from: request, context: context) }
        return try problem.response(from: request, context: context)
    }

    /// The Confluent Schema Registry routes (Evento's own `/schemas` and `/schemas/{aggregate}` are not).
    static func isSchemaRegistryPath(_ path: String) -> Bool {
        path.hasPrefix("/schemas/ids/") || path == "/subjects" || path.hasPrefix("/subjects/") || path.hasPrefix("/compatibility/")
            || path == "/config" || path.hasPrefix("/config/")
    }

    static func problem(for error: any Error, request: Request, context: Context) -> Problem {
        let instance = request.uri.path
        switch error {
        case var p as Problem:
            if p.instance == nil { p.instance = instance }
            return p
        case let c as ConfluentError:
            // Schema registry clients parse Confluent's error format, not problem+json.
            return Problem(EventoError(.invalidRequest, c.failure.message), instance: instance, passthrough: c)
        case let e as EventoError:
            if e.code == .internal { context.logger.error("internal error: \(e) at \(e.file):\(e.line)") }
            return Problem(e, instance: instance)
        case let c as VersionConflict:
            return Problem(
                EventoError(
                    .versionConflict, c.description, field: nil,
                    extensions: ["entity": .string(c.entity.rawValue), "expectedVersion": c.expected.json, "actualVersion": .int(c.actual), "index": .int(Int64(c.index))]
                ), instance: instance)
        case let c as IdempotencyConflict:
            return Problem(
                EventoError(.idempotencyConflict, c.description, field: nil, extensions: ["id": .string(c.id), "index": .int(Int64(c.index))]),
                instance: instance)
        case let e as HTTPError:
            let code: EventoError.Code =
                switch e.status {
                case .notFound: .notFound
                case .methodNotAllowed: .methodNotAllowed
                case .contentTooLarge: .payloadTooLarge
                case .badRequest: .invalidRequest
                case .unauthorized: .unauthorized
                default: .internal
                }
            let message =
                e.body
                ?? (e.status == .notFound ? "no route for \(request.method) \(request.uri.path)" : e.status.reasonPhrase)
            var problem = Problem(EventoError(code, message), instance: instance)
            problem.headers = e.headers
            return problem
        case is NIOTooManyBytesError:
            return Problem(EventoError(.payloadTooLarge, "the request body is larger than the server's limit"), instance: instance)
        default:
            context.logger.error("unexpected error: \(String(reflecting: error))")
            return Problem(
                EventoError(.internal, "internal error; the server log has the details (request \(context.id))"),
                instance: instance)
        }
    }
}
