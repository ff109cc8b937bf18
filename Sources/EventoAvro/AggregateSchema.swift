import EventoCore

/// One aggregate's schema file: a JSON array of named types in the aggregate's namespace; records carry
/// `"evento": "state" | "event" | "command"` to say what they are.
public struct AggregateSchema: Sendable {
    public let aggregate: String
    public let state: AvroNamed?
    public let events: [String: AvroNamed]
    public let commands: [String: AvroNamed]
    /// Every named type, in file order.
    public let types: [AvroNamed]
    /// The file's JSON as given.
    public let definition: JSONValue

    /// Parses and checks a schema file for `aggregate`.
    public init(aggregate: String, definition: JSONValue) throws(EventoError) {
        guard Names.isAvroName(aggregate) else {
            throw EventoError(.invalidRequest, "\"\(aggregate)\" is not an aggregate name ([A-Za-z_][A-Za-z0-9_]*)", field: "aggregate")
        }
        guard case .array(let items) = definition else {
            throw EventoError(.validation, "a schema file is a JSON array of named types, got \(definition.typeName)", field: "")
        }
        var parser = AvroSchemaParser()
        var types: [AvroNamed] = []
        var state: AvroNamed?
        var events: [String: AvroNamed] = [:]
        var commands: [String: AvroNamed] = [:]
        for (i, item) in items.enumerated() {
            let parsed: AvroType
            do {
                parsed = try parser.parse(item, namespace: aggregate, path: "[\(i)]")
            } catch {
                throw EventoError(.validation, "invalid Avro schema: \(error)", field: "[\(i)]")
            }
            guard case .named(let named) = parsed else {
                throw EventoError(.validation, "[\(i)]: a schema file holds named types (record, enum, fixed), got \(parsed)", field: "[\(i)]")
            }
            guard named.namespace == aggregate else {
                throw EventoError(
                    .validation, "[\(i)]: \(named.fullName) is not in namespace \(aggregate) (the namespace is the aggregate's name)",
                    field: "[\(i)]")
            }
            types.append(named)
            guard let role = named.properties["evento"] else { continue }
            guard case .record = named.kind else {
                throw EventoError(.validation, "[\(i)]: \"evento\" marks records only; \(named.fullName) is not a record", field: "[\(i)]")
            }
            switch role {
            case "state":
                if let state { throw EventoError(.validation, "[\(i)]: \(named.fullName) is a second state record (\(state.name) is one)", field: "[\(i)]") }
                state = named
            case "event": events[named.name] = named
            case "command": commands[named.name] = named
            default:
                throw EventoError(.validation, "[\(i)]: \"evento\" is \(role.jsonText); expected \"state\", \"event\" or \"command\"", field: "[\(i)]")
            }
        }
        self.aggregate = aggregate
        self.state = state
        self.events = events
        self.commands = commands
        self.types = types
        self.definition = definition
    }

    /// The records Evento registers subjects for (record name strategy: subject = full name).
    public var subjectRecords: [AvroNamed] {
        types.filter { $0.properties["evento"] != nil }
    }
}
