import Foundation

/// One event as a client submits it (`POST /events`), checked for shape but not yet resolved.
public struct EventDraft: Sendable {
    public var id: String?
    public var entity: EntityId
    public var type: String
    /// The payload as JSON, or nil when it came as `payloadAvro` (see `avro`).
    public var payload: JSONValue?
    /// The payload in the Confluent wire format (0x00, schema id, Avro binary), from `payloadAvro` (base64).
    public var avro: [UInt8]?
    public var cause: ClientCause
    public var expectedVersion: ExpectedVersion
    /// Where the event sits in the request (`events[3]`, or "" alone), for messages.
    public var path: String

    public init(
        id: String?, entity: EntityId, type: String, payload: JSONValue?, avro: [UInt8]? = nil, cause: ClientCause = ClientCause(),
        expectedVersion: ExpectedVersion = .any, path: String = ""
    ) {
        self.id = id
        self.entity = entity
        self.type = type
        self.payload = payload
        self.avro = avro
        self.cause = cause
        self.expectedVersion = expectedVersion
        self.path = path
    }
}

/// One command as a client submits it (`POST /commands`), checked for shape but not yet resolved.
public struct CommandDraft: Sendable {
    public var id: String?
    public var entity: EntityId
    public var type: String
    public var payload: JSONValue
    public var cause: ClientCause
    /// When it is due (`notBefore`, or `delayMs` after it was read); nil: at once.
    public var notBefore: Timestamp?

    public init(id: String?, entity: EntityId, type: String, payload: JSONValue, cause: ClientCause = ClientCause(), notBefore: Timestamp? = nil) {
        self.id = id
        self.entity = entity
        self.type = type
        self.payload = payload
        self.cause = cause
        self.notBefore = notBefore
    }
}

/// Reads what clients submit — events and commands — with one set of rules for the fields they share
/// (id, entity, type, payload, the cause fields), so both say the same about the same mistake.
public enum SubmissionParser {
    /// Most events accepted in one batch.
    public static let maxBatch = 10_000

    /// Parses `{…command…}`.
    public static func command(_ body: JSONValue) throws(EventoError) -> CommandDraft {
        guard case .object = body else { throw EventoError.invalid("", "expected a JSON object (a command), got \(body.typeName)") }
        var r = try FieldReader(body)
        let (id, entity, type) = try identity(&r)
        let payload = try r.require("payload")
        guard case .object = payload else { throw EventoError.invalid(r.path("payload"), "expected object, got \(payload.typeName)") }
        let cause = try self.cause(&r, path: "")
        let notBefore = try schedule(&r)
        try r.rejectUnknownFields()
        return CommandDraft(id: id, entity: entity, type: type, payload: payload, cause: cause, notBefore: notBefore)
    }

    /// Longest delay a command may be scheduled with (about ten years).
    public static let maxDelayMs: Int64 = 10 * 366 * 86_400_000

    /// A command's durable timer: `notBefore` (RFC 3339) or `delayMs` (from now), not both; nil when neither.
    public static func schedule(_ r: inout FieldReader, now: Timestamp = .now()) throws(EventoError) -> Timestamp? {
        let text = try r.string("notBefore")
        let delay = try r.int("delayMs")
        switch (text, delay) {
        case (nil, nil):
            return nil
        case (.some, .some):
            throw EventoError.invalid(r.path("delayMs"), "give notBefore or delayMs, not both")
        case (let text?, nil):
            guard let t = Timestamp(rfc3339: text) else {
                throw EventoError.invalid(r.path("notBefore"), "expected an RFC 3339 time such as 2026-11-28T04:12:25.123Z, got \"\(text)\"")
            }
            return t > now ? t : nil
        case (nil, let ms?):
            guard ms >= 0, ms <= maxDelayMs else {
                throw EventoError.invalid(r.path("delayMs"), "expected milliseconds from 0 to \(maxDelayMs), got \(ms)")
            }
            return ms == 0 ? nil : Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch + ms)
        }
    }

    /// Parses `{…event…}` or `{"events": [ … ]}`.
    public static func events(_ body: JSONValue) throws(EventoError) -> (events: [EventDraft], isBatch: Bool) {
        guard case .object(let object) = body else {
            throw EventoError.invalid("", "expected a JSON object (one event, or {\"events\": [ … ]}), got \(body.typeName)")
        }
        guard object["events"] != nil else { return ([try event(body, path: "")], false) }
        var reader = try FieldReader(body)
        guard let items = try reader.array("events") else { throw EventoError.invalid("events", "is required") }
        try reader.rejectUnknownFields()
        guard !items.isEmpty else { throw EventoError.invalid("events", "is empty; send at least one event") }
        guard items.count <= maxBatch else {
            throw EventoError.invalid("events", "has \(items.count) events; at most \(maxBatch) are accepted in one batch")
        }
        var events: [EventDraft] = []
        events.reserveCapacity(items.count)
        var seen: [String: Int] = [:]
        for (i, item) in items.enumerated() {
            let e = try event(item, path: "events[\(i)]")
            if let id = e.id {
                if let first = seen[id] {
                    throw EventoError.invalid("events[\(i)].id", "\"\(id)\" repeats the id of events[\(first)]")
                }
                seen[id] = i
            }
            events.append(e)
        }
        return (events, true)
    }

    static func event(_ value: JSONValue, path: String) throws(EventoError) -> EventDraft {
        var r = try FieldReader(value, path: path)
        let (id, entity, type) = try identity(&r)
        let payloadValue = r.value("payload")
        var avro: [UInt8]?
        if let encoded = try r.string("payloadAvro") {
            guard payloadValue == nil else {
                throw EventoError.invalid(r.path("payloadAvro"), "give payload or payloadAvro, not both")
            }
            guard let data = Data(base64Encoded: encoded) else {
                throw EventoError.invalid(r.path("payloadAvro"), "expected base64 of the Confluent wire format (0x00, schema id, Avro binary)")
            }
            avro = Array(data)
        } else {
            guard let payloadValue else { throw EventoError.invalid(r.path("payload"), "is required") }
            guard case .object = payloadValue else {
                throw EventoError.invalid(r.path("payload"), "expected object, got \(payloadValue.typeName)")
            }
        }
        let cause = try self.cause(&r, path: path)
        let expected = try expectedVersion(r.value("expectedVersion"), path: r.path("expectedVersion"))
        try r.rejectUnknownFields()
        return EventDraft(
            id: id, entity: entity, type: type, payload: payloadValue, avro: avro, cause: cause, expectedVersion: expected, path: path)
    }

    /// The fields every submission starts with: `id` (optional), `entity`, `type`.
    static func identity(_ r: inout FieldReader) throws(EventoError) -> (id: String?, entity: EntityId, type: String) {
        let id = try r.string("id")
        if let id, let problem = Names.validateId(id) { throw EventoError.invalid(r.path("id"), problem) }
        let entityText = try r.requireString("entity")
        let entity: EntityId
        do {
            entity = try EntityId(parsing: entityText)
        } catch {
            throw EventoError.invalid(r.path("entity"), error.description)
        }
        let type = try r.requireString("type")
        guard Names.isAvroName(type) else {
            throw EventoError.invalid(r.path("type"), "\"\(type)\" is not a type name ([A-Za-z_][A-Za-z0-9_]*)")
        }
        return (id, entity, type)
    }

    /// The cause fields: `causationId`, `causationKind`, `correlationId`, `traceparent`.
    static func cause(_ r: inout FieldReader, path: String) throws(EventoError) -> ClientCause {
        var cause = ClientCause(path: path)
        cause.causationId = try r.string("causationId")
        if let kind = try r.string("causationKind") {
            guard let k = CausationKind(rawValue: kind) else {
                throw EventoError.invalid(r.path("causationKind"), "expected one of command, event, external, got \"\(kind)\"")
            }
            cause.causationKind = k
        }
        cause.correlationId = try r.string("correlationId")
        if let c = cause.correlationId, let problem = Names.validateId(c) { throw EventoError.invalid(r.path("correlationId"), problem) }
        cause.traceparent = try r.string("traceparent")
        return cause
    }

    static func expectedVersion(_ value: JSONValue?, path: String) throws(EventoError) -> ExpectedVersion {
        switch value {
        case nil: return .any
        case .int(let v)? where v >= 0: return v == 0 ? .noStream : .exact(v)
        case .string("any")?: return .any
        case .string("noStream")?, .string("no_stream")?, .string("no-stream")?: return .noStream
        case .string("exists")?, .string("streamExists")?: return .exists
        case let v?:
            throw EventoError.invalid(path, "expected a version (integer ≥ 0) or one of \"any\", \"noStream\", \"exists\", got \(v.jsonText)")
        }
    }
}
