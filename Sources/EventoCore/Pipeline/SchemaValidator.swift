/// Checks payloads and states against the aggregates' schemas.
///
/// Each method takes the payload as parsed (a payload is parsed once, where it enters) and returns it as
/// it should be stored (a validator may fill in defaults), printed once, with the id of the schema it
/// conformed to; or throws an `EventoError` (`.validation`) whose message names the field at fault.
/// `field` prefixes the path in messages (`payload`, `events[2].payload`).
public protocol SchemaValidator: Sendable {
    func validateEvent(aggregate: String, type: String, payload: JSONValue, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?)
    func validateCommand(aggregate: String, type: String, payload: JSONValue, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?)
    func validateState(aggregate: String, state: JSONValue, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?)
    /// A payload given in the Confluent wire format (0x00, schema id, Avro binary), as JSON.
    func decodeWireFormat(_ bytes: [UInt8]) throws -> (schemaId: Int, value: JSONValue)
    /// Whether `type` is a command of `aggregate` that only dispatchers may send (its record says
    /// `"internal": true`): a saga's own steps, which a client must not send to bypass it.
    func isInternalCommand(aggregate: String, type: String) -> Bool
    /// The fields of the aggregate's state record marked `"unique"`: no two entities of the aggregate
    /// may hold the same value.
    func uniqueFields(aggregate: String) -> [UniqueField]
    /// A view document checked against the view's schema (a record marked `"evento": "view"` named like the
    /// view, in any aggregate's schema file), as it should be stored; nil when the view has no schema.
    func validateView(_ view: String, doc: JSONValue, field: String) throws(EventoError) -> RawJSON?
}

extension SchemaValidator {
    public func isInternalCommand(aggregate: String, type: String) -> Bool { false }
    public func uniqueFields(aggregate: String) -> [UniqueField] { [] }
    public func validateView(_ view: String, doc: JSONValue, field: String) throws(EventoError) -> RawJSON? { nil }
}

/// A state field whose values are unique across an aggregate's entities (`"unique": true`, or
/// `"unique": "casefold"` to compare strings case-insensitively).
public struct UniqueField: Sendable, Hashable {
    public var name: String
    public var casefold: Bool

    public init(name: String, casefold: Bool) {
        self.name = name
        self.casefold = casefold
    }

    /// The key a state's value of this field is reserved under; nil when the state has no value for it
    /// (absent or null: nothing is reserved).
    public func key(in state: JSONValue) -> String? {
        guard case .object(let o) = state, let v = o[name] else { return nil }
        switch v {
        case .null: return nil
        case .string(let s): return key(forText: s)
        default: return v.jsonText
        }
    }

    /// The reservation key of a string value (what a lookup by this field compares). A value holding
    /// U+0000 (which PostgreSQL's text refuses) is reserved under its JSON text instead, quotes included:
    /// no NUL, and no other value's key (only a value that itself starts with a quote could look the same,
    /// and then the two only ever conflict, never share).
    public func key(forText text: String) -> String {
        let folded = casefold ? text.lowercased() : text
        return folded.utf8.contains(0) ? JSONValue.string(folded).jsonText : folded
    }
}

/// Accepts everything: for aggregates without a schema.
public struct AcceptAllValidator: SchemaValidator {
    public init() {}
    public func validateEvent(aggregate: String, type: String, payload: JSONValue, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?) {
        (RawJSON(payload), nil)
    }
    public func validateCommand(aggregate: String, type: String, payload: JSONValue, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?) {
        (RawJSON(payload), nil)
    }
    public func validateState(aggregate: String, state: JSONValue, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?) {
        (RawJSON(state), nil)
    }
    public func decodeWireFormat(_ bytes: [UInt8]) throws -> (schemaId: Int, value: JSONValue) {
        throw EventoError(.validation, "no schemas are configured, so Avro payloads cannot be decoded")
    }
}
