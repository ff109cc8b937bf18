import EventoCore
import PostgresNIO

/// Reading rows of the event and command tables.
enum PostgresRows {
    static let eventColumns =
        "position, id, entity, sequence, type, time, payload, causation_id, causation_kind, correlation_id, traceparent, schema_id"
    static let commandColumns =
        "id, entity, type, payload, causation_id, causation_kind, correlation_id, traceparent, status, attempts, last_error, result_event_ids, created_at, updated_at"

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
            updatedAt: Timestamp(millisecondsSinceEpoch: try r[o + 13].decode(Int64.self)))
    }

    static func resultIds(_ ids: [String]) -> String {
        var w = JSONWriter()
        w.array(ids) { w, id in w.string(id) }
        return w.string
    }
}
