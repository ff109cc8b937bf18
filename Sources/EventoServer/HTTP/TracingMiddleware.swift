import EventoCore
import HTTPTypes
import Hummingbird

/// The HTTP request's span (kind server), under the request's `traceparent` or at the root of a new trace.
///
/// When the request came with a `traceparent`, while it is handled that header is the span's own context,
/// as a proxy that traces forwards it: the commands and events the request creates take it as their parent.
/// Without one, the span is offered as `Evento-Server-Span` instead, which an item takes only when it has no
/// trace of its own (no `traceparent` in the body, no cause whose trace it joins). A request whose
/// `traceparent` is not sampled, or not a valid header (the route then answers 400), passes untouched; a new
/// trace the sampler leaves out is offered the same way, flagged not sampled.
struct TracingMiddleware<Context: RequestContext>: RouterMiddleware {
    static var serverSpan: HTTPField.Name { HTTPField.Name("Evento-Server-Span")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Only this middleware sets the server span: a client's is dropped.
        var head = request.head
        head.headerFields[Self.serverSpan] = nil
        guard EventoTracing.isEnabled else {
            return try await next(request.headers[Self.serverSpan] == nil ? request : Request(head: head, body: request.body), context)
        }
        let incoming = request.headers[.traceparent]
        let parent = incoming.flatMap(TraceParent.init)
        // A span the sampler drops is non-recording: its context (flagged not sampled) still goes on, so
        // that nothing the request causes is recorded either.
        guard incoming == nil || parent != nil,
            var span = EventoTracing.start(request.method.rawValue, kind: .server, parent: parent)
        else {
            return try await next(Request(head: head, body: request.body), context)
        }
        if incoming != nil { head.headerFields[.traceparent] = span.traceparent } else { head.headerFields[Self.serverSpan] = span.traceparent }
        let request = Request(head: head, body: request.body)
        span.set("http.request.method", request.method.rawValue)
        span.set("url.path", request.uri.path)
        func finish(_ status: HTTPResponse.Status) {
            guard span.isRecording else { return }
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
