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
