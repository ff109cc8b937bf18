import EventoCore
import Foundation

/// One event as a client submits it (`POST /events`), checked for shape but not yet resolved.
struct EventRequest {
    var id: String?
    var entity: EntityId
    var type: String
    /// The payload as JSON, or nil when it came as `payloadAvro` (see `avro`).
    var payload: RawJSON?
    /// The payload in the Confluent wire format (0x00, schema id, Avro binary), from `payloadAvro` (base64).
    var avro: [UInt8]?
    var cause: ClientCause
    var expectedVersion: ExpectedVersion
    var path: String

    /// Most events accepted in one batch.
    static let maxBatch = 10_000

    /// Parses `{…event…}` or `{"events": [ … ]}`.
    static func parse(_ body: JSONValue) throws -> (events: [EventRequest], isBatch: Bool) {
        guard case .object(let object) = body else {
            throw EventoError.invalid("", "expected a JSON object (one event, or {\"events\": [ … ]}), got \(body.typeName)")
        }
        guard object["events"] != nil else { return ([try parse(event: body, path: "")], false) }
        var reader = try FieldReader(body)
        guard let items = try reader.array("events") else { throw EventoError.invalid("events", "is required") }
        try reader.rejectUnknownFields()
        guard !items.isEmpty else { throw EventoError.invalid("events", "is empty; send at least one event") }
        guard items.count <= maxBatch else {
            throw EventoError.invalid("events", "has \(items.count) events; at most \(maxBatch) are accepted in one batch")
        }
        var events: [EventRequest] = []
        events.reserveCapacity(items.count)
        var seen: [String: Int] = [:]
        for (i, item) in items.enumerated() {
            let e = try parse(event: item, path: "events[\(i)]")
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

    static func parse(event value: JSONValue, path: String) throws -> EventRequest {
        var r = try FieldReader(value, path: path)
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
        let expected = try parseExpectedVersion(r.value("expectedVersion"), path: r.path("expectedVersion"))
        try r.rejectUnknownFields()
        return EventRequest(
            id: id, entity: entity, type: type, payload: payloadValue.map(RawJSON.init), avro: avro, cause: cause,
            expectedVersion: expected, path: path)
    }

    static func parseExpectedVersion(_ value: JSONValue?, path: String) throws -> ExpectedVersion {
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
