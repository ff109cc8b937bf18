import EventoCore
import Hummingbird
import NIOCore

/// An RFC 9457 problem+json response.
///
/// Every error a client sees goes through here: `type` is `/problems/<slug>` (documented in
/// docs/errors.md), `detail` says precisely what is wrong, `field` names the part of the request at fault.
struct Problem: HTTPResponseError {
    var error: EventoError
    var instance: String?
    var headers: HTTPFields = [:]
    /// An error that renders itself (schema registry errors keep Confluent's format).
    var passthrough: (any HTTPResponseError)?
    /// A problem only the HTTP layer raises (the core has no code for it); it decides type, title and status.
    var httpType: HTTPProblemType?

    init(_ error: EventoError, instance: String? = nil, passthrough: (any HTTPResponseError)? = nil) {
        self.error = error
        self.instance = instance
        self.passthrough = passthrough
        if let seconds = error.retryAfterSeconds { headers[.retryAfter] = String(seconds) }
    }

    /// A problem of the HTTP layer: `detail` and the request part at fault (a header name, say).
    init(_ type: HTTPProblemType, _ detail: String, field: String? = nil) {
        // The code stands in for logging and metrics only: status, type and title come from `type`.
        self.init(EventoError(.invalidRequest, detail, field: field))
        httpType = type
    }

    var status: HTTPResponse.Status { httpType?.status ?? Self.status(for: error.code) }

    static func status(for code: EventoError.Code) -> HTTPResponse.Status {
        switch code {
        case .malformedJSON, .invalidRequest: .badRequest
        case .validation, .unknownReference: .unprocessableContent
        case .notFound: .notFound
        case .versionConflict, .idempotencyConflict, .conflict: .conflict
        case .payloadTooLarge: .contentTooLarge
        case .unauthorized: .unauthorized
        case .forbidden: .forbidden
        case .unavailable: .serviceUnavailable
        case .overloaded: .tooManyRequests
        case .functionFailed: .badGateway
        case .methodNotAllowed: .methodNotAllowed
        default: .internalServerError
        }
    }

    static func title(for code: EventoError.Code) -> String {
        switch code {
        case .malformedJSON: "Malformed JSON"
        case .invalidRequest: "Invalid request"
        case .validation: "Validation failed"
        case .unknownReference: "Unknown reference"
        case .notFound: "Not found"
        case .versionConflict: "Version conflict"
        case .idempotencyConflict: "Idempotency conflict"
        case .conflict: "Conflict"
        case .payloadTooLarge: "Payload too large"
        case .unauthorized: "Unauthorized"
        case .forbidden: "Forbidden"
        case .unavailable: "Unavailable"
        case .overloaded: "Too many requests"
        case .functionFailed: "Function failed"
        case .methodNotAllowed: "Method not allowed"
        default: "Internal error"
        }
    }

    func body() -> ByteBuffer {
        var w = JSONWriter()
        w.object { o in
            o.field("type", "/problems/\(httpType?.slug ?? error.code.slug)")
            o.field("title", httpType?.title ?? Self.title(for: error.code))
            o.field("status", Int(status.code))
            o.field("detail", error.message)
            o.field("instance", instance)
            o.field("field", error.field)
            for m in error.extensions where !["type", "title", "status", "detail", "instance", "field"].contains(m.key) {
                o.field(m.key, value: m.value)
            }
        }
        return ByteBuffer(bytes: w.bytes)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: body()))
    }
}

/// Problem types of the HTTP layer alone: the pipeline never produces them, so they have no
/// `EventoError.Code`.
struct HTTPProblemType: Sendable {
    var slug: String
    var title: String
    var status: HTTPResponse.Status

    /// The body of a JSON route is declared as something else (or not declared).
    static let unsupportedMediaType = HTTPProblemType(slug: "unsupported-media-type", title: "Unsupported media type", status: .unsupportedMediaType)
    /// The request body did not arrive within the body timeout.
    static let requestTimeout = HTTPProblemType(slug: "request-timeout", title: "Request timeout", status: .requestTimeout)
}
