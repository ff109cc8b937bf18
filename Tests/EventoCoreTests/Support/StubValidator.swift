import EventoCore

/// Accepts every payload (as `AcceptAllValidator`), with the schema marks a test needs: internal commands
/// (`"aggregate.Type"`) and a check of view documents.
struct StubValidator: SchemaValidator {
    var internalCommands: Set<String> = []
    /// Returns the problem with a view document (view, document, field), or nil when it is fine.
    var viewProblem: @Sendable (String, JSONValue, String) -> EventoError? = { _, _, _ in nil }
    /// Views that have a schema (the others have none: nil).
    var viewsWithSchema: Set<String> = []
    /// Unique state fields, by aggregate.
    var unique: [String: [UniqueField]] = [:]
    let inner = AcceptAllValidator()

    func validateEvent(aggregate: String, type: String, payload: JSONValue, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?) {
        try inner.validateEvent(aggregate: aggregate, type: type, payload: payload, field: field)
    }
    func validateCommand(aggregate: String, type: String, payload: JSONValue, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?) {
        try inner.validateCommand(aggregate: aggregate, type: type, payload: payload, field: field)
    }
    func validateState(aggregate: String, state: JSONValue, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?) {
        try inner.validateState(aggregate: aggregate, state: state, field: field)
    }
    func decodeWireFormat(_ bytes: [UInt8]) throws -> (schemaId: Int, value: JSONValue) { try inner.decodeWireFormat(bytes) }
    func isInternalCommand(aggregate: String, type: String) -> Bool { internalCommands.contains("\(aggregate).\(type)") }
    func uniqueFields(aggregate: String) -> [UniqueField] { unique[aggregate] ?? [] }
    func validateView(_ view: String, doc: JSONValue, field: String) throws(EventoError) -> RawJSON? {
        guard viewsWithSchema.contains(view) else { return nil }
        if let problem = viewProblem(view, doc, field) { throw problem }
        return RawJSON(doc)
    }
}
