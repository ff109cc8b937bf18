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
    /// Commands only dispatchers may send (`"internal": true` on the record).
    public let internalCommands: Set<String>
    /// State fields unique across the aggregate's entities (`"unique": true | "casefold"` on the field).
    public let uniqueFields: [UniqueField]
    /// Schemas of views (`"evento": "view"`), by view name (the record's name).
    public let views: [String: AvroNamed]

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
        var internalCommands: Set<String> = []
        var views: [String: AvroNamed] = [:]
        var uniqueFields: [UniqueField] = []
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
            if let flag = named.properties["internal"] {
                guard case .bool = flag else {
                    throw EventoError(.validation, "[\(i)]: \"internal\" is \(flag.jsonText); expected true or false", field: "[\(i)].internal")
                }
                guard role == "command" else {
                    throw EventoError(.validation, "[\(i)]: \"internal\" marks command records only; \(named.fullName) is a \(role.jsonText)", field: "[\(i)].internal")
                }
                if flag == .bool(true) { internalCommands.insert(named.name) }
            }
            switch role {
            case "state":
                if let state { throw EventoError(.validation, "[\(i)]: \(named.fullName) is a second state record (\(state.name) is one)", field: "[\(i)]") }
                state = named
                uniqueFields = try Self.uniqueFields(item, named, path: "[\(i)]")
            case "event": events[named.name] = named
            case "command": commands[named.name] = named
            case "view": views[named.name] = named
            default:
                throw EventoError(.validation, "[\(i)]: \"evento\" is \(role.jsonText); expected \"state\", \"event\", \"command\" or \"view\"", field: "[\(i)]")
            }
        }
        self.aggregate = aggregate
        self.state = state
        self.events = events
        self.commands = commands
        self.types = types
        self.definition = definition
        self.internalCommands = internalCommands
        self.uniqueFields = uniqueFields
        self.views = views
    }

    /// The fields of the state record marked `"unique"` (read from the file's JSON: Avro keeps no
    /// attributes of fields). Only fields of a string, int or long type (or such a union with null) may be.
    static func uniqueFields(_ item: JSONValue, _ record: AvroNamed, path: String) throws(EventoError) -> [UniqueField] {
        guard case .record(let fields) = record.kind, let raw = item["fields"]?.arrayValue else { return [] }
        var out: [UniqueField] = []
        for (j, f) in raw.enumerated() {
            guard let flag = f["unique"], j < fields.count else { continue }
            let field = fields[j]
            let casefold: Bool
            switch flag {
            case .bool(false): continue
            case .bool(true): casefold = false
            case .string("casefold"): casefold = true
            default:
                throw EventoError(.validation, "\(path).fields[\(j)]: \"unique\" is \(flag.jsonText); expected true, false or \"casefold\"", field: "\(path).fields[\(j)].unique")
            }
            let scalar = Self.scalarType(field.type)
            guard let scalar, scalar == "string" || (!casefold && (scalar == "int" || scalar == "long")) else {
                throw EventoError(
                    .validation,
                    "\(path).fields[\(j)]: \(field.name) cannot be unique\(casefold ? " (casefold)" : ""): only string\(casefold ? "" : ", int or long") fields (or such a union with null) can",
                    field: "\(path).fields[\(j)].unique")
            }
            out.append(UniqueField(name: field.name, casefold: casefold))
        }
        return out
    }

    /// "string", "int", "long" for such a type or its union with null; nil otherwise.
    private static func scalarType(_ type: AvroType) -> String? {
        switch type {
        case .string: return "string"
        case .int: return "int"
        case .long: return "long"
        case .union(let branches):
            let others = branches.filter { if case .null = $0 { return false } else { return true } }
            guard others.count == 1, branches.count == 2 else { return nil }
            return scalarType(others[0])
        default: return nil
        }
    }

    /// The records Evento registers subjects for (record name strategy: subject = full name).
    public var subjectRecords: [AvroNamed] {
        types.filter { $0.properties["evento"] != nil }
    }
}
