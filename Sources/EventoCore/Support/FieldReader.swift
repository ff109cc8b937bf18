/// Reads the members of a JSON request object by name, tracking the path for error messages and refusing
/// members nobody asked for (`events[1]: unknown field "amout"`).
public struct FieldReader {
    public let object: JSONObject
    /// Path of this object within the request, e.g. `events[1]`; empty at the top.
    public let path: String
    private var consumed: Set<String> = []

    public init(_ value: JSONValue, path: String = "") throws(EventoError) {
        guard case .object(let o) = value else {
            throw EventoError.invalid(path, "expected an object, got \(value.typeName)")
        }
        self.object = o
        self.path = path
    }

    /// The path of a member of this object.
    public func path(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The raw member, or nil when absent (an explicit `null` counts as absent).
    public mutating func value(_ key: String) -> JSONValue? {
        consumed.insert(key)
        guard let v = object[key], !v.isNull else { return nil }
        return v
    }

    public mutating func require(_ key: String) throws(EventoError) -> JSONValue {
        guard let v = value(key) else { throw EventoError.invalid(path(key), "is required") }
        return v
    }

    public mutating func string(_ key: String) throws(EventoError) -> String? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else {
            throw EventoError.invalid(path(key), "expected string, got \(v.typeName)")
        }
        return s
    }

    public mutating func requireString(_ key: String) throws(EventoError) -> String {
        guard let s = try string(key) else { throw EventoError.invalid(path(key), "is required") }
        return s
    }

    public mutating func int(_ key: String) throws(EventoError) -> Int64? {
        guard let v = value(key) else { return nil }
        switch v {
        case .int(let i): return i
        case .double(let d) where d == d.rounded() && abs(d) < 9e15: return Int64(d)
        default: throw EventoError.invalid(path(key), "expected integer, got \(v.typeName)")
        }
    }

    public mutating func bool(_ key: String) throws(EventoError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else { throw EventoError.invalid(path(key), "expected boolean, got \(v.typeName)") }
        return b
    }

    public mutating func array(_ key: String) throws(EventoError) -> [JSONValue]? {
        guard let v = value(key) else { return nil }
        guard case .array(let a) = v else { throw EventoError.invalid(path(key), "expected array, got \(v.typeName)") }
        return a
    }

    public mutating func object(_ key: String) throws(EventoError) -> FieldReader? {
        guard let v = value(key) else { return nil }
        return try FieldReader(v, path: path(key))
    }

    /// Throws for the first member that was never read.
    public func rejectUnknownFields() throws(EventoError) {
        for m in object.members where !consumed.contains(m.key) {
            let message = "unknown field \"\(m.key)\""
            throw EventoError(.invalidRequest, path.isEmpty ? message : "\(path): \(message)", field: path(m.key))
        }
    }
}
