import EventoCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Reads the body of every request that has one before anything else looks at the request, within a size
/// and a time limit:
/// - over `maxBytes`: 413;
/// - not fully arrived `timeout` after the request head: 408 (the idle timeout alone lets a client keep a
///   connection by sending a byte now and then).
/// Reading first matters for every refusal: Hummingbird reads whatever body is left after an answer, for as
/// long as the client sends it, so a 401 or 403 given before the body was read would let a client hold the
/// connection by trickling it. After a 413 or a 408, whose bodies are not read to the end, the answer says
/// `Connection: close` and the connection is closed (at once after a 408; after a 413 once `timeout` has
/// passed, so that a client still sending gets to read its answer first). Routes read the collected body
/// from memory. It sits outside `ProblemMiddleware` and renders its own problems.
struct RequestBodyMiddleware: RouterMiddleware {
    typealias Context = EventoRequestContext
    let maxBytes: Int
    let timeout: Duration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let length = request.headers[.contentLength].flatMap(Int.init)
        guard (length ?? 0) > 0 || request.headers[.transferEncoding] != nil else { return try await next(request, context) }
        if let length, length > maxBytes {
            return try refuse(EventoError(.payloadTooLarge, "the request body is \(length) bytes; the limit is \(maxBytes) bytes"), request, context)
        }
        var request = request
        let body = request.body
        let maxBytes = self.maxBytes
        let timeout = self.timeout
        let collected: ByteBuffer?
        do {
            collected = try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
                group.addTask { try await body.collect(upTo: maxBytes) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                return try await group.next() ?? nil
            }
        } catch is NIOTooManyBytesError {
            return try refuse(EventoError(.payloadTooLarge, "the request body is larger than the limit of \(maxBytes) bytes"), request, context)
        }
        guard let collected else {
            // Stop reading now: the body will not be used, and the client is slow on purpose or broken.
            context.channel.close(mode: .input, promise: nil)
            var problem = Problem(.requestTimeout, "the request body did not arrive within \(timeout.milliseconds) ms (--body-timeout-ms)")
            problem.headers[.connection] = "close"
            return try ProblemMiddleware<Context>.response(for: problem, request: request, context: context)
        }
        request.body = RequestBody(buffer: collected)
        return try await next(request, context)
    }

    /// A 413 before the body was read to its end: the client may still be sending it.
    private func refuse(_ error: EventoError, _ request: Request, _ context: Context) throws -> Response {
        var problem = Problem(error, instance: request.uri.path)
        problem.headers[.connection] = "close"
        let channel = context.channel
        channel.eventLoop.scheduleTask(in: TimeAmount(timeout)) { channel.close(promise: nil) }
        return try ProblemMiddleware<Context>.response(for: problem, request: request, context: context)
    }
}

/// Refuses request bodies that are not declared as JSON: every route that takes a body takes JSON
/// (`application/json`, or `application/*+json` such as the schema registry's
/// `application/vnd.schemaregistry.v1+json`, with parameters such as `charset`). Browsers send forms and
/// `text/plain` to other sites without asking first, so a JSON route that read them would take orders from
/// any web page; a body without a `Content-Type` is refused for the same reason. 415, naming the header.
struct ContentTypeMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch request.method {
        case .get, .head, .options: return try await next(request, context)
        default: break
        }
        if let contentType = request.headers[.contentType] {
            guard Self.isJSON(contentType) else {
                throw Problem(
                    .unsupportedMediaType, "Content-Type \(contentType) is not accepted: send the body as JSON, with Content-Type: application/json",
                    field: "Content-Type")
            }
        } else if (request.headers[.contentLength].flatMap(Int.init) ?? 0) > 0 || request.headers[.transferEncoding] != nil {
            throw Problem(.unsupportedMediaType, "a request with a body needs Content-Type: application/json", field: "Content-Type")
        }
        return try await next(request, context)
    }

    /// `application/json` or `application/<anything>+json`, with any parameters.
    static func isJSON(_ contentType: String) -> Bool {
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        if mediaType == "application/json" { return true }
        guard mediaType.hasPrefix("application/"), mediaType.hasSuffix("+json") else { return false }
        let subtype = mediaType.dropFirst("application/".count).dropLast("+json".count)
        return !subtype.isEmpty && !subtype.contains("/")
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
