import EventoCore
import HTTPTypes
import Hummingbird

/// The HTTP request's span (kind server), under the request's `traceparent` or at the root of a new trace.
///
/// While the request is handled its `traceparent` header is the span's own context, as a proxy that traces
/// forwards it: the commands and events the request creates take it as their parent, so their spans go
/// under this one. A request whose `traceparent` is not sampled, or not a valid header (the route then
/// answers 400), passes untouched.
struct TracingMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard EventoTracing.isEnabled else { return try await next(request, context) }
        let incoming = request.headers[.traceparent]
        let parent = incoming.flatMap(TraceParent.init)
        guard incoming == nil || parent != nil, var span = EventoTracing.start(request.method.rawValue, kind: .server, parent: parent) else {
            return try await next(request, context)
        }
        var head = request.head
        head.headerFields[.traceparent] = span.traceparent
        let request = Request(head: head, body: request.body)
        span.set("http.request.method", request.method.rawValue)
        span.set("url.path", request.uri.path)
        func finish(_ status: HTTPResponse.Status) {
            if let route = context.endpointPath {
                span.name = "\(request.method.rawValue) \(route)"
                span.set("http.route", route)
            }
            span.set("http.response.status_code", status.code)
            if status.code >= 500 { span.fail("HTTP \(status.code)") }
            span.end()
        }
        do {
            let response = try await next(request, context)
            finish(response.status)
            return response
        } catch {
            finish((error as? any HTTPResponseError)?.status ?? .internalServerError)
            throw error
        }
    }
}
