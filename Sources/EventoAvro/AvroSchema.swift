import EventoCore

/// An Avro schema, parsed from its JSON into Swift values that can be walked: what validation, encoding,
/// canonical forms and compatibility checks work from.
public indirect enum AvroType: Sendable, CustomStringConvertible {
    case null, boolean, int, long, float, double, bytes, string
    case named(AvroNamed)
    case array(AvroType)
    case map(AvroType)
    case union([AvroType])
    /// A logical type over its underlying type (decimal over bytes or fixed, date over int, …).
    case logical(AvroLogical, AvroType)

    /// The name used in messages and union branch keys: "long", "array", "checking.AccountStatus", "decimal(10,2)".
    public var description: String {
        switch self {
        case .null: "null"
        case .boolean: "boolean"
        case .int: "int"
        case .long: "long"
        case .float: "float"
        case .double: "double"
        case .bytes: "bytes"
        case .string: "string"
        case .named(let n): n.fullName
        case .array: "array"
        case .map: "map"
        case .union(let branches): branches.map(\.description).joined(separator: " | ")
        case .logical(let l, _): l.description
        }
    }

    /// The type without its logical annotation.
    public var underlying: AvroType {
        if case .logical(_, let base) = self { return base.underlying }
        return self
    }

    /// The Avro type name of the underlying type (the key of a union branch in Avro's JSON encoding).
    var branchName: String {
        switch underlying {
        case .named(let n): n.fullName
        case .array: "array"
        case .map: "map"
        default: underlying.description
        }
    }
}

/// Avro logical types Evento understands.
public enum AvroLogical: Sendable, Hashable, CustomStringConvertible {
    case decimal(precision: Int, scale: Int)
    case uuid
    case date
    case timeMillis
    case timeMicros
    case timestampMillis
    case timestampMicros
    case localTimestampMillis
    case localTimestampMicros

    public var description: String {
        switch self {
        case .decimal(let p, let s): "decimal(\(p),\(s))"
        case .uuid: "uuid"
        case .date: "date"
        case .timeMillis: "time-millis"
        case .timeMicros: "time-micros"
        case .timestampMillis: "timestamp-millis"
        case .timestampMicros: "timestamp-micros"
        case .localTimestampMillis: "local-timestamp-millis"
        case .localTimestampMicros: "local-timestamp-micros"
        }
    }
}

/// A named type: record, enum or fixed. A class, so that recursive records can refer to themselves.
public final class AvroNamed: @unchecked Sendable, CustomStringConvertible {
    // @unchecked: built once by the parser (fields are set right after creation, before the schema is
    // shared) and never mutated after parsing returns.
    public enum Kind: Sendable {
        case record([AvroField])
        case enumeration(symbols: [String], defaultSymbol: String?)
        case fixed(size: Int)
    }

    public let name: String
    public let namespace: String?
    public internal(set) var kind: Kind
    public let aliases: [String]
    public let doc: String?
    /// Other attributes of the definition (`"evento": "event"`, say).
    public let properties: JSONObject

    init(name: String, namespace: String?, kind: Kind, aliases: [String], doc: String?, properties: JSONObject) {
        self.name = name
        self.namespace = namespace
        self.kind = kind
        self.aliases = aliases
        self.doc = doc
        self.properties = properties
    }

    public var fullName: String { namespace.map { "\($0).\(name)" } ?? name }
    public var description: String { fullName }

    public var fields: [AvroField] {
        if case .record(let f) = kind { return f }
        return []
    }
}

public struct AvroField: Sendable {
    public var name: String
    public var type: AvroType
    /// The default, in Avro's JSON encoding (a union's default belongs to its first branch).
    public var defaultValue: JSONValue?
    public var aliases: [String]
    public var doc: String?
}

/// A schema parse error, with where it is.
public struct AvroSchemaError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var path: String
    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Parses Avro schema JSON, resolving names and namespaces as the specification says.
public struct AvroSchemaParser {
    /// Named types known so far, by full name (a schema file's earlier types are visible to later ones).
    public private(set) var names: [String: AvroNamed] = [:]

    public init(names: [String: AvroNamed] = [:]) { self.names = names }

    /// The largest decimal scale: the digits a 128-bit unscaled value holds.
    static let maxDecimalScale = 38

    static let primitives: [String: AvroType] = [
        "null": .null, "boolean": .boolean, "int": .int, "long": .long, "float": .float, "double": .double,
        "bytes": .bytes, "string": .string,
    ]

    public mutating func parse(_ json: JSONValue, namespace: String? = nil, path: String = "") throws(AvroSchemaError) -> AvroType {
        switch json {
        case .string(let name):
            return try reference(name, namespace: namespace, path: path)
        case .array(let branches):
            var types: [AvroType] = []
            for (i, b) in branches.enumerated() {
                let t = try parse(b, namespace: namespace, path: "\(path)[\(i)]")
                if case .union = t { throw AvroSchemaError(message: "a union may not contain a union", path: "\(path)[\(i)]") }
                if types.contains(where: { $0.branchName == t.branchName }) {
                    throw AvroSchemaError(message: "the union has two branches of type \(t.branchName)", path: "\(path)[\(i)]")
                }
                types.append(t)
            }
            return .union(types)
        case .object(let o):
            return try parseObject(o, namespace: namespace, path: path)
        default:
            throw AvroSchemaError(message: "expected a type name, an object or a union array, got \(json.typeName)", path: path)
        }
    }

    private func reference(_ name: String, namespace: String?, path: String) throws(AvroSchemaError) -> AvroType {
        if let p = Self.primitives[name] { return p }
        let full = name.contains(".") ? name : (namespace.map { "\($0).\(name)" } ?? name)
        if let n = names[full] ?? names[name] { return .named(n) }
        throw AvroSchemaError(message: "unknown type \"\(name)\"", path: path)
    }

    private mutating func parseObject(_ o: JSONObject, namespace: String?, path: String) throws(AvroSchemaError) -> AvroType {
        guard let typeValue = o["type"] else { throw AvroSchemaError(message: "missing \"type\"", path: path) }
        let base: AvroType
        switch typeValue {
        case .string("record"), .string("error"):
            base = try parseRecord(o, namespace: namespace, path: path)
        case .string("enum"):
            base = try parseEnum(o, namespace: namespace, path: path)
        case .string("fixed"):
            base = try parseFixed(o, namespace: namespace, path: path)
        case .string("array"):
            guard let items = o["items"] else { throw AvroSchemaError(message: "an array needs \"items\"", path: path) }
            base = .array(try parse(items, namespace: namespace, path: path + ".items"))
        case .string("map"):
            guard let values = o["values"] else { throw AvroSchemaError(message: "a map needs \"values\"", path: path) }
            base = .map(try parse(values, namespace: namespace, path: path + ".values"))
        default:
            base = try parse(typeValue, namespace: namespace, path: path + ".type")
        }
        guard case .string(let logical)? = o["logicalType"] else { return base }
        // Unknown or ill-fitting logical types are ignored, as the specification says.
        switch (logical, base) {
        case ("decimal", .bytes), ("decimal", .named):
            if case .named(let n) = base, case .fixed = n.kind {} else if case .bytes = base {} else { return base }
            guard let precision = o["precision"]?.intValue, precision > 0 else { return base }
            let scale = o["scale"]?.intValue ?? 0
            guard scale >= 0, scale <= precision else { return base }
            // A value's natural text has `scale` digits after the point, and its unscaled value is a 128-bit
            // integer: a larger scale (one in the billions made validation allocate that many digits) has no
            // use, and is refused rather than ignored, which would make the field plain bytes.
            guard scale <= Self.maxDecimalScale else {
                throw AvroSchemaError(message: "a decimal's scale may be at most \(Self.maxDecimalScale) (decimals hold 38 digits), not \(scale)", path: path)
            }
            return .logical(.decimal(precision: Int(precision), scale: Int(scale)), base)
        case ("uuid", .string): return .logical(.uuid, base)
        case ("date", .int): return .logical(.date, base)
        case ("time-millis", .int): return .logical(.timeMillis, base)
        case ("time-micros", .long): return .logical(.timeMicros, base)
        case ("timestamp-millis", .long): return .logical(.timestampMillis, base)
        case ("timestamp-micros", .long): return .logical(.timestampMicros, base)
        case ("local-timestamp-millis", .long): return .logical(.localTimestampMillis, base)
        case ("local-timestamp-micros", .long): return .logical(.localTimestampMicros, base)
        default: return base
        }
    }

    private func fullName(_ o: JSONObject, namespace: String?, path: String) throws(AvroSchemaError) -> (name: String, namespace: String?) {
        guard case .string(let name)? = o["name"] else { throw AvroSchemaError(message: "a named type needs a \"name\"", path: path) }
        var ns = namespace
        if case .string(let explicit)? = o["namespace"] { ns = explicit.isEmpty ? nil : explicit }
        var simple = name
        if let dot = name.lastIndex(of: ".") {
            ns = String(name[..<dot])
            simple = String(name[name.index(after: dot)...])
        }
        guard Names.isAvroName(simple), ns.map({ $0.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { Names.isAvroName(String($0)) } }) ?? true else {
            throw AvroSchemaError(message: "\"\(name)\" is not a valid Avro name", path: path)
        }
        let full = ns.map { "\($0).\(simple)" } ?? simple
        if names[full] != nil { throw AvroSchemaError(message: "the type \(full) is defined twice", path: path) }
        return (simple, ns)
    }

    private static let reserved: Set<String> = [
        "type", "name", "namespace", "fields", "symbols", "items", "values", "size", "doc", "aliases", "default", "order",
        "logicalType", "precision", "scale",
    ]

    private func properties(_ o: JSONObject) -> JSONObject {
        JSONObject(o.members.filter { !Self.reserved.contains($0.key) })
    }

    private func aliases(_ o: JSONObject) -> [String] { o["aliases"]?.arrayValue?.compactMap(\.stringValue) ?? [] }

    private mutating func parseRecord(_ o: JSONObject, namespace: String?, path: String) throws(AvroSchemaError) -> AvroType {
        let (name, ns) = try fullName(o, namespace: namespace, path: path)
        let named = AvroNamed(name: name, namespace: ns, kind: .record([]), aliases: aliases(o), doc: o["doc"]?.stringValue, properties: properties(o))
        names[named.fullName] = named  // visible to its own fields (recursion)
        guard case .array(let fieldValues)? = o["fields"] else {
            throw AvroSchemaError(message: "the record \(named.fullName) needs \"fields\" (an array)", path: path)
        }
        var fields: [AvroField] = []
        for (i, f) in fieldValues.enumerated() {
            let fpath = "\(named.fullName).fields[\(i)]"
            guard case .object(let fo) = f, case .string(let fname)? = fo["name"], Names.isAvroName(fname) else {
                throw AvroSchemaError(message: "a field needs a valid \"name\"", path: fpath)
            }
            guard let ftype = fo["type"] else { throw AvroSchemaError(message: "the field \(fname) needs a \"type\"", path: fpath) }
            if fields.contains(where: { $0.name == fname }) {
                throw AvroSchemaError(message: "the field \(fname) is defined twice", path: fpath)
            }
            let type = try parse(ftype, namespace: ns, path: "\(named.fullName).\(fname)")
            let def = fo["default"]
            if let def {
                let target: AvroType = if case .union(let b) = type, let first = b.first { first } else { type }
                guard AvroDefaults.fits(def, target) else {
                    throw AvroSchemaError(
                        message: "the default \(def.jsonText) of field \(fname) is not a \(target)"
                            + (type.isUnion ? " (a union's default belongs to its first branch)" : ""),
                        path: fpath)
                }
            }
            fields.append(AvroField(name: fname, type: type, defaultValue: def, aliases: aliases(fo), doc: fo["doc"]?.stringValue))
        }
        named.kind = .record(fields)
        return .named(named)
    }

    private mutating func parseEnum(_ o: JSONObject, namespace: String?, path: String) throws(AvroSchemaError) -> AvroType {
        let (name, ns) = try fullName(o, namespace: namespace, path: path)
        guard let symbols = o["symbols"]?.arrayValue?.compactMap(\.stringValue), !symbols.isEmpty,
            symbols.allSatisfy(Names.isAvroName), Set(symbols).count == symbols.count
        else {
            throw AvroSchemaError(message: "the enum \(name) needs \"symbols\": distinct names", path: path)
        }
        let def = o["default"]?.stringValue
        if let def, !symbols.contains(def) { throw AvroSchemaError(message: "the enum default \(def) is not a symbol", path: path) }
        let named = AvroNamed(
            name: name, namespace: ns, kind: .enumeration(symbols: symbols, defaultSymbol: def), aliases: aliases(o),
            doc: o["doc"]?.stringValue, properties: properties(o))
        names[named.fullName] = named
        return .named(named)
    }

    private mutating func parseFixed(_ o: JSONObject, namespace: String?, path: String) throws(AvroSchemaError) -> AvroType {
        let (name, ns) = try fullName(o, namespace: namespace, path: path)
        guard let size = o["size"]?.intValue, size >= 0 else { throw AvroSchemaError(message: "the fixed \(name) needs a \"size\"", path: path) }
        let named = AvroNamed(name: name, namespace: ns, kind: .fixed(size: Int(size)), aliases: aliases(o), doc: o["doc"]?.stringValue, properties: properties(o))
        names[named.fullName] = named
        return .named(named)
    }
}

extension AvroType {
    var isUnion: Bool {
        if case .union = self { return true }
        return false
    }
}

/// Checks field defaults, which are written in Avro's JSON encoding.
enum AvroDefaults {
    static func fits(_ v: JSONValue, _ t: AvroType) -> Bool {
        switch (t.underlying, v) {
        case (.null, .null), (.boolean, .bool): return true
        case (.int, .int(let i)): return Int32(exactly: i) != nil
        case (.long, .int): return true
        case (.float, .int), (.float, .double), (.double, .int), (.double, .double): return true
        case (.bytes, .string), (.string, .string): return true
        case (.array(let items), .array(let a)): return a.allSatisfy { fits($0, items) }
        case (.map(let values), .object(let o)): return o.members.allSatisfy { fits($0.value, values) }
        case (.union(let b), _): return b.first.map { fits(v, $0) } ?? false
        case (.named(let n), _):
            switch (n.kind, v) {
            case (.enumeration(let symbols, _), .string(let s)): return symbols.contains(s)
            case (.fixed(let size), .string(let s)): return s.unicodeScalars.count == size
            case (.record(let fields), .object(let o)):
                return fields.allSatisfy { f in o[f.name].map { fits($0, f.type) } ?? (f.defaultValue != nil) }
            default: return false
            }
        default: return false
        }
    }
}
