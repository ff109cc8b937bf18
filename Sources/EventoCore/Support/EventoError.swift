/// Every error Evento reports to a client.
///
/// The `code` decides the HTTP status and the problem type; `message` is the problem's `detail`, written
/// for the person who sent the request; `field` names the part of the request at fault (`events[2].entity`).
public struct EventoError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case malformedJSON = "malformed-json"
            case invalidRequest = "invalid-request"
            case validation = "validation-failed"
            case unknownReference = "unknown-reference"
            case notFound = "not-found"
            case methodNotAllowed = "method-not-allowed"
            case forbidden = "forbidden"
            case versionConflict = "version-conflict"
            case idempotencyConflict = "idempotency-conflict"
            case conflict = "conflict"
            case payloadTooLarge = "payload-too-large"
            case unauthorized = "unauthorized"
            case unavailable = "unavailable"
            case overloaded = "overloaded"
            case functionFailed = "function-failed"
            case `internal` = "internal"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The body is not JSON.
        public static let malformedJSON = Code(.malformedJSON)
        /// The body is JSON but not of the expected shape (missing, unknown or mistyped fields, bad ids).
        public static let invalidRequest = Code(.invalidRequest)
        /// A payload or state does not conform to its schema.
        public static let validation = Code(.validation)
        /// The request refers to an id that does not exist (a cause, a function).
        public static let unknownReference = Code(.unknownReference)
        public static let notFound = Code(.notFound)
        public static let methodNotAllowed = Code(.methodNotAllowed)
        public static let forbidden = Code(.forbidden)
        /// An append's expected version did not match the stream.
        public static let versionConflict = Code(.versionConflict)
        /// An id was reused for a different request.
        public static let idempotencyConflict = Code(.idempotencyConflict)
        /// The request conflicts with the current state (a name already taken, say).
        public static let conflict = Code(.conflict)
        public static let payloadTooLarge = Code(.payloadTooLarge)
        public static let unauthorized = Code(.unauthorized)
        public static let unavailable = Code(.unavailable)
        /// Too much accepted work is still unfinished: try again later (429 with `Retry-After`).
        public static let overloaded = Code(.overloaded)
        /// A user function failed for good (after its retries).
        public static let functionFailed = Code(.functionFailed)
        public static let `internal` = Code(.internal)

        /// The problem's type slug, as in `/problems/version-conflict`.
        public var slug: String { base.rawValue }
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    public var field: String?
    /// Extra problem members (`entity`, `expectedVersion`, `actualVersion`, …).
    public var extensions: JSONObject
    /// When to try again, in seconds (`Retry-After`), for an overloaded or unavailable server.
    public var retryAfterSeconds: Int?
    public var file: String
    public var line: Int

    public init(
        _ code: Code, _ message: String, field: String? = nil, extensions: JSONObject = [:],
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.field = field
        self.extensions = extensions
        self.file = file
        self.line = line
    }

    public var description: String { "\(code): \(message)" }

    public static func invalid(_ field: String, _ message: String, file: String = #fileID, line: Int = #line) -> EventoError {
        EventoError(.invalidRequest, field.isEmpty ? message : "\(field): \(message)", field: field, file: file, line: line)
    }

    public static func notFound(_ message: String, file: String = #fileID, line: Int = #line) -> EventoError {
        EventoError(.notFound, message, file: file, line: line)
    }
}
