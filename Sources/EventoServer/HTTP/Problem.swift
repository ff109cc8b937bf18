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

    init(_ error: EventoError, instance: String? = nil, passthrough: (any HTTPResponseError)? = nil) {
        self.error = error
        self.instance = instance
        self.passthrough = passthrough
    }

    var status: HTTPResponse.Status { Self.status(for: error.code) }

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
        case .functionFailed: "Function failed"
        case .methodNotAllowed: "Method not allowed"
        default: "Internal error"
        }
    }

    func body() -> ByteBuffer {
        var w = JSONWriter()
        w.object { o in
            o.field("type", "/problems/\(error.code.slug)")
            o.field("title", Self.title(for: error.code))
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
