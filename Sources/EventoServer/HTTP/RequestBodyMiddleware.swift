import EventoCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Reads the body of every request that may carry one (all but GET, HEAD and OPTIONS) before a route
/// runs, and refuses what a JSON route must not take:
/// - a body declared as anything but JSON (`application/json`, `application/*+json`, parameters such as
///   `charset` allowed), or a body without a `Content-Type`: 415. Browsers send forms and `text/plain`
///   across sites without asking first, so a JSON route that read them would take orders from any page;
/// - a body over `maxBytes`: 413;
/// - a body that has not fully arrived `timeout` after the request head: 408, and the connection is closed
///   (the idle timeout alone lets a client keep a connection by sending a byte now and then).
/// Routes then read the collected body from memory.
struct RequestBodyMiddleware: RouterMiddleware {
    typealias Context = EventoRequestContext
    let maxBytes: Int
    let timeout: Duration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch request.method {
        case .get, .head, .options: return try await next(request, context)
        default: break
        }
        let contentType = request.headers[.contentType]
        if let contentType, !Self.isJSON(contentType) {
            throw Problem(
                .unsupportedMediaType, "Content-Type \(contentType) is not accepted: send the body as JSON, with Content-Type: application/json",
                field: "Content-Type")
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBytes {
            throw EventoError(.payloadTooLarge, "the request body is \(length) bytes; the limit is \(maxBytes) bytes")
        }
        var request = request
        let buffer = try await collect(request.body, context)
        if contentType == nil && buffer.readableBytes > 0 {
            throw Problem(.unsupportedMediaType, "a request with a body needs Content-Type: application/json", field: "Content-Type")
        }
        request.body = RequestBody(buffer: buffer)
        return try await next(request, context)
    }

    /// The whole body, within the size and time limits.
    private func collect(_ body: RequestBody, _ context: Context) async throws -> ByteBuffer {
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
            throw EventoError(.payloadTooLarge, "the request body is larger than the limit of \(maxBytes) bytes")
        }
        guard let collected else {
            // Stop reading: Hummingbird would otherwise drain the rest of the body after the answer, for as
            // long as the client keeps trickling it.
            context.channel.close(mode: .input, promise: nil)
            var problem = Problem(
                .requestTimeout, "the request body did not arrive within \(timeout.milliseconds) ms (--body-timeout-ms)")
            problem.headers[.connection] = "close"
            throw problem
        }
        return collected
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
