import EventoCore
import PostgresNIO

/// Reading rows of the event and command tables.
enum PostgresRows {
    static let eventColumns =
        "position, id, entity, sequence, type, time, payload, causation_id, causation_kind, correlation_id, traceparent, schema_id"
    static let commandColumns =
        "id, entity, type, payload, causation_id, causation_kind, correlation_id, traceparent, status, attempts, last_error, result_event_ids, created_at, updated_at, not_before"

    static func event(_ row: PostgresRow, offset o: Int = 0) throws -> EventEnvelope {
        let r = row.makeRandomAccess()
        return EventEnvelope(
            id: try r[o + 1].decode(String.self), entity: EntityId(stored: try r[o + 2].decode(String.self)),
            type: try r[o + 4].decode(String.self), sequence: try r[o + 3].decode(Int64.self), position: try r[o].decode(Int64.self),
            time: Timestamp(millisecondsSinceEpoch: try r[o + 5].decode(Int64.self)), payload: RawJSON(trusted: try r[o + 6].decode(String.self)),
            causationId: try r[o + 7].decode(String?.self),
            causationKind: CausationKind(rawValue: try r[o + 8].decode(String.self)) ?? .external,
            correlationId: try r[o + 9].decode(String.self), traceparent: try r[o + 10].decode(String?.self),
            schemaId: try r[o + 11].decode(Int?.self))
    }

    static func command(_ row: PostgresRow, offset o: Int = 0) throws -> CommandRecord {
        let r = row.makeRandomAccess()
        let ids = (try? JSONParser.parse(try r[o + 11].decode(String.self)))?.arrayValue?.compactMap(\.stringValue) ?? []
        return CommandRecord(
            id: try r[o].decode(String.self), entity: EntityId(stored: try r[o + 1].decode(String.self)), type: try r[o + 2].decode(String.self),
            payload: RawJSON(trusted: try r[o + 3].decode(String.self)), causationId: try r[o + 4].decode(String?.self),
            causationKind: CausationKind(rawValue: try r[o + 5].decode(String.self)) ?? .external, correlationId: try r[o + 6].decode(String.self),
            traceparent: try r[o + 7].decode(String?.self), status: CommandStatus(rawValue: try r[o + 8].decode(String.self)) ?? .pending,
            attempts: try r[o + 9].decode(Int.self), lastError: try r[o + 10].decode(String?.self), resultEventIds: ids,
            createdAt: Timestamp(millisecondsSinceEpoch: try r[o + 12].decode(Int64.self)),
            updatedAt: Timestamp(millisecondsSinceEpoch: try r[o + 13].decode(Int64.self)),
            notBefore: try r[o + 14].decode(Int64?.self).map(Timestamp.init(millisecondsSinceEpoch:)))
    }

    /// An event from a `json_build_array` of `eventColumns`.
    static func event(json r: [JSONValue]) throws -> EventEnvelope {
        guard r.count >= 12, let position = r[0].intValue, let id = r[1].stringValue, let entity = r[2].stringValue, let sequence = r[3].intValue,
            let type = r[4].stringValue, let time = r[5].intValue, let payload = r[6].stringValue, let kind = r[8].stringValue,
            let correlation = r[9].stringValue
        else { throw EventoError(.internal, "an event row is malformed") }
        return EventEnvelope(
            id: id, entity: EntityId(stored: entity), type: type, sequence: sequence, position: position,
            time: Timestamp(millisecondsSinceEpoch: time), payload: RawJSON(trusted: payload), causationId: r[7].stringValue,
            causationKind: CausationKind(rawValue: kind) ?? .external, correlationId: correlation, traceparent: r[10].stringValue,
            schemaId: r[11].intValue.map(Int.init))
    }

    /// A command from a `json_build_array` of `commandColumns`.
    static func command(json r: [JSONValue]) throws -> CommandRecord {
        guard r.count >= 14, let id = r[0].stringValue, let entity = r[1].stringValue, let type = r[2].stringValue, let payload = r[3].stringValue,
            let kind = r[5].stringValue, let correlation = r[6].stringValue, let status = r[8].stringValue, let attempts = r[9].intValue,
            let ids = r[11].stringValue, let created = r[12].intValue, let updated = r[13].intValue
        else { throw EventoError(.internal, "a command row is malformed") }
        let resultIds = (try? JSONParser.parse(ids))?.arrayValue?.compactMap(\.stringValue) ?? []
        return CommandRecord(
            id: id, entity: EntityId(stored: entity), type: type, payload: RawJSON(trusted: payload), causationId: r[4].stringValue,
            causationKind: CausationKind(rawValue: kind) ?? .external, correlationId: correlation, traceparent: r[7].stringValue,
            status: CommandStatus(rawValue: status) ?? .pending, attempts: Int(attempts), lastError: r[10].stringValue,
            resultEventIds: resultIds, createdAt: Timestamp(millisecondsSinceEpoch: created), updatedAt: Timestamp(millisecondsSinceEpoch: updated),
            notBefore: r.count > 14 ? r[14].intValue.map(Timestamp.init(millisecondsSinceEpoch:)) : nil)
    }

    static func resultIds(_ ids: [String]) -> String {
        var w = JSONWriter()
        w.array(ids) { w, id in w.string(id) }
        return w.string
    }
}

/// Free text (a function's error message) as PostgreSQL's text can hold it: it refuses U+0000, and one
/// such byte in a group commit would fail every write of the group. NUL becomes U+FFFD (what a reader
/// shows for an unreadable byte); SQLite keeps such text as it is, keys and ids never hold NUL (they are
/// validated at the edge).
enum PostgresText {
    static func storable(_ text: String) -> String {
        guard text.utf8.contains(0) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : $0 }))
    }

    static func storable(_ text: String?) -> String? { text.map { (t: String) in storable(t) } }
}
