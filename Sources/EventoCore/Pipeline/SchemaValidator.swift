/// Checks payloads and states against the aggregates' schemas.
///
/// Each method returns the payload as it should be stored (a validator may fill in defaults) and the id
/// of the schema it conformed to, or throws an `EventoError` (`.validation`) whose message names the
/// field at fault. `field` prefixes the path in messages (`payload`, `events[2].payload`).
public protocol SchemaValidator: Sendable {
    func validateEvent(aggregate: String, type: String, payload: RawJSON, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?)
    func validateCommand(aggregate: String, type: String, payload: RawJSON, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?)
    func validateState(aggregate: String, state: RawJSON, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?)
}

/// Accepts everything: for aggregates without a schema.
public struct AcceptAllValidator: SchemaValidator {
    public init() {}
    public func validateEvent(aggregate: String, type: String, payload: RawJSON, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?) { (payload, nil) }
    public func validateCommand(aggregate: String, type: String, payload: RawJSON, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?) { (payload, nil) }
    public func validateState(aggregate: String, state: RawJSON, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?) { (state, nil) }
}
