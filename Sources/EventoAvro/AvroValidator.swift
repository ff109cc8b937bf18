import EventoCore

/// Validates the natural JSON form of Avro data and returns it normalised: record fields in schema order
/// with defaults filled in, numbers as their Avro type wants them, logical types in their canonical text.
///
/// The natural form is plain JSON: a record is an object, a union is its bare value (or, where the bare
/// value fits no branch, Avro's wrapped form `{"type": value}`), bytes and fixed are strings of code
/// points U+0000…U+00FF, and logical types are written as text (see `AvroLogicalValues`). Errors name the
/// path and what was expected: `payload.amount: expected long, got "ten"`.
public enum AvroValidator {
    public static func normalize(_ value: JSONValue, as type: AvroType, path: String) throws(EventoError) -> JSONValue {
        switch type {
        case .logical(let logical, let base):
            return try normalizeLogical(value, logical, base, path: path)
        case .null:
            guard case .null = value else { throw mismatch(path, "null", value) }
            return .null
        case .boolean:
            guard case .bool = value else { throw mismatch(path, "boolean", value) }
            return value
        case .int:
            let i = try integer(value, "int", path: path)
            guard Int32(exactly: i) != nil else { throw failure(path, "expected int, got \(i), which is outside the 32-bit range") }
            return .int(i)
        case .long:
            return .int(try integer(value, "long", path: path))
        case .float:
            switch value {
            case .int(let i): return .double(Double(i))
            case .double(let d):
                try checkRange(d, path: path)
                // Avro writes a float in 32 bits: refuse what only a double can hold.
                let f = Float(d)
                if f.isInfinite { throw failure(path, "\(d) is too large for a 32-bit float (it overflows to infinity)") }
                if f == 0 && d != 0 { throw failure(path, "\(d) is too small for a 32-bit float (it underflows to 0)") }
                return value
            default: throw mismatch(path, "float", value)
            }
        case .double:
            switch value {
            case .int(let i): return .double(Double(i))
            case .double(let d):
                try checkRange(d, path: path)
                return value
            default: throw mismatch(path, "double", value)
            }
        case .string:
            guard case .string = value else { throw mismatch(path, "string", value) }
            return value
        case .bytes:
            guard case .string(let s) = value else { throw mismatch(path, "bytes (a string of code points U+0000…U+00FF)", value) }
            guard AvroLogicalValues.bytes(fromText: s) != nil else {
                throw failure(path, "expected bytes: a string of code points U+0000…U+00FF (one per byte)")
            }
            return value
        case .array(let items):
            guard case .array(let a) = value else { throw mismatch(path, "array", value) }
            var out: [JSONValue] = []
            out.reserveCapacity(a.count)
            for (i, v) in a.enumerated() { out.append(try normalize(v, as: items, path: "\(path)[\(i)]")) }
            return .array(out)
        case .map(let values):
            guard case .object(let o) = value else { throw mismatch(path, "map (an object)", value) }
            var out: [JSONObject.Member] = []
            for m in o { out.append(.init(key: m.key, value: try normalize(m.value, as: values, path: "\(path).\(m.key)"))) }
            return .object(JSONObject(out))
        case .union(let branches):
            return try normalizeUnion(value, branches, path: path)
        case .named(let n):
            switch n.kind {
            case .record(let fields):
                guard case .object(let o) = value else { throw mismatch(path, "\(n.fullName) (an object)", value) }
                for m in o where !fields.contains(where: { $0.name == m.key }) {
                    throw EventoError(.validation, "\(path): unknown field \"\(m.key)\"", field: "\(path).\(m.key)")
                }
                var out: [JSONObject.Member] = []
                out.reserveCapacity(fields.count)
                for f in fields {
                    let fpath = "\(path).\(f.name)"
                    if let v = o[f.name] {
                        out.append(.init(key: f.name, value: try normalize(v, as: f.type, path: fpath)))
                    } else if let d = f.defaultValue {
                        out.append(.init(key: f.name, value: try naturalDefault(d, f.type, path: fpath)))
                    } else if case .union(let b) = f.type, b.contains(where: { if case .null = $0 { true } else { false } }) {
                        // An optional field left out: absent and null mean the same to a client.
                        throw EventoError(.validation, "\(fpath): is required (give null if it has no value)", field: fpath)
                    } else {
                        throw EventoError(.validation, "\(fpath): is required (a \(f.type))", field: fpath)
                    }
                }
                return .object(JSONObject(out))
            case .enumeration(let symbols, _):
                guard case .string(let s) = value else { throw mismatch(path, "one of \(symbols.joined(separator: ", "))", value) }
                guard symbols.contains(s) else {
                    throw failure(path, "expected one of \(symbols.joined(separator: ", ")), got \(describe(value))")
                }
                return value
            case .fixed(let size):
                guard case .string(let s) = value, let b = AvroLogicalValues.bytes(fromText: s) else {
                    throw mismatch(path, "\(n.fullName) (a string of \(size) code points U+0000…U+00FF)", value)
                }
                guard b.count == size else { throw failure(path, "expected \(size) bytes for \(n.fullName), got \(b.count)") }
                return value
            }
        }
    }

    /// Picks the union branch for a natural value: the first whose kind matches exactly, else the first that
    /// accepts it, else Avro's wrapped form. The encoder uses the same choice.
    static func branchIndex(_ value: JSONValue, _ branches: [AvroType]) -> Int? {
        if case .null = value { return branches.firstIndex { if case .null = $0 { true } else { false } } }
        if let i = branches.firstIndex(where: { strictKindMatch(value, $0) && (try? normalize(value, as: $0, path: "")) != nil }) { return i }
        return branches.firstIndex { (try? normalize(value, as: $0, path: "")) != nil }
    }

    /// The branch named by Avro's wrapped form `{"branch": value}`.
    static func wrappedBranch(_ value: JSONValue, _ branches: [AvroType]) -> (Int, JSONValue)? {
        guard case .object(let o) = value, o.count == 1, let m = o.members.first,
            let i = branches.firstIndex(where: { $0.branchName == m.key || ($0.underlying.isNamed(m.key)) })
        else { return nil }
        return (i, m.value)
    }

    private static func normalizeUnion(_ value: JSONValue, _ branches: [AvroType], path: String) throws(EventoError) -> JSONValue {
        if let i = branchIndex(value, branches) { return try normalize(value, as: branches[i], path: path) }
        if let (i, inner) = wrappedBranch(value, branches) { return try normalize(inner, as: branches[i], path: path) }
        // When one branch is plainly meant (the only non-null one, or the only one of the value's kind), its
        // own error says more than "expected one of".
        let nonNull = branches.filter { if case .null = $0 { false } else { true } }
        let sameKind = branches.filter { strictKindMatch(value, $0) }
        if let meant = nonNull.count == 1 ? nonNull.first : (sameKind.count == 1 ? sameKind.first : nil) {
            return try normalize(value, as: meant, path: path)
        }
        throw failure(path, "expected \(branches.map(\.description).joined(separator: " or ")), got \(describe(value))")
    }

    static func strictKindMatch(_ value: JSONValue, _ type: AvroType) -> Bool {
        switch (value, type.underlying) {
        case (.null, .null), (.bool, .boolean): true
        case (.int, .int), (.int, .long): true
        case (.double, .float), (.double, .double): true
        case (.string, .string), (.string, .bytes): true
        case (.array, .array), (.object, .map): true
        case (.string, .named(let n)):
            if case .record = n.kind { false } else { true }
        case (.object, .named(let n)):
            if case .record = n.kind { true } else { false }
        default: false
        }
    }

    /// A field default (Avro JSON encoding) in its natural, normalised form.
    static func naturalDefault(_ d: JSONValue, _ type: AvroType, path: String) throws(EventoError) -> JSONValue {
        if case .union(let b) = type, let first = b.first { return try normalize(d, as: first, path: path) }
        return try normalize(d, as: type, path: path)
    }

    /// The number rule for int and long: only a JSON integer literal (no fraction, no exponent) within
    /// 64 bits. `1.0`, `1e3` and `100e-2` are numbers a client wrote as something else; taking them as
    /// integers would store a value the client did not write (`1e-99999999` as 0).
    private static func integer(_ v: JSONValue, _ type: String, path: String) throws(EventoError) -> Int64 {
        switch v {
        case .int(let i):
            return i
        case .double(let d) where d == d.rounded() && abs(d) >= 9.2e18:
            throw failure(path, "expected \(type), got \(d), which is outside the 64-bit range")
        case .double(let d) where d == d.rounded():
            // A whole number written with a fraction or an exponent: say what would have been taken.
            throw failure(path, "expected \(type) (an integer literal, without fraction or exponent), got \(describe(v))")
        default:
            throw mismatch(path, type, v)
        }
    }

    /// Doubles from anywhere but the parser (which refuses them) can still be infinite or NaN.
    private static func checkRange(_ d: Double, path: String) throws(EventoError) {
        guard d.isFinite else { throw failure(path, "expected a finite number, got \(d)") }
    }

    static func describe(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): s.count > 60 ? JSONValue.string(String(s.prefix(60)) + "…").jsonText : v.jsonText
        case .array: "an array"
        case .object: "an object"
        default: v.jsonText
        }
    }

    static func mismatch(_ path: String, _ expected: String, _ got: JSONValue) -> EventoError {
        failure(path, "expected \(expected), got \(describe(got))")
    }

    static func failure(_ path: String, _ message: String) -> EventoError {
        EventoError(.validation, path.isEmpty ? message : "\(path): \(message)", field: path.isEmpty ? nil : path)
    }

    // MARK: Logical types

    private static func normalizeLogical(_ value: JSONValue, _ logical: AvroLogical, _ base: AvroType, path: String) throws(EventoError) -> JSONValue {
        typealias L = AvroLogicalValues
        switch logical {
        case .decimal(let precision, let scale):
            let text: String
            switch value {
            case .string(let s): text = s
            case .int(let i): text = String(i)
            case .double(let d): text = d.description.contains("e") ? "" : d.description
            default: throw mismatch(path, "\(logical) (a number or a numeric string)", value)
            }
            guard let unscaled = L.unscaled(text, precision: precision, scale: scale) else {
                throw failure(path, "expected \(logical): at most \(precision) digits, \(scale) after the point, got \(describe(value))")
            }
            if case .named(let n) = base, case .fixed(let size) = n.kind, L.twosComplement(unscaled, size: size) == nil {
                throw failure(path, "\(describe(value)) does not fit in \(size) bytes")
            }
            return .string(L.decimalText(unscaled, scale: scale))
        case .uuid:
            guard case .string(let s) = value, L.isUUID(s) else { throw mismatch(path, "uuid (8-4-4-4-12 hex digits)", value) }
            return .string(s.lowercased())
        case .date:
            switch value {
            case .int(let days) where Int32(exactly: days) != nil: return .string(L.dateText(days: days))
            case .string(let s):
                guard let days = try? L.parseDate(s) else { throw mismatch(path, "date (YYYY-MM-DD)", value) }
                return .string(L.dateText(days: days))
            default: throw mismatch(path, "date (YYYY-MM-DD)", value)
            }
        case .timeMillis, .timeMicros:
            let digits = logical == .timeMillis ? 3 : 6
            let limit: Int64 = 86_400 * (digits == 3 ? 1000 : 1_000_000)
            switch value {
            case .int(let t) where t >= 0 && t < limit: return .string(L.timeText(t, digits: digits))
            case .string(let s):
                do { return .string(L.timeText(try L.parseTime(s, digits: digits), digits: digits)) } catch {
                    throw failure(path, error == .tooPrecise
                        ? "\(describe(value)) is more precise than \(logical)" : "expected \(logical) (HH:MM:SS.fff), got \(describe(value))")
                }
            default: throw mismatch(path, "\(logical) (HH:MM:SS.fff)", value)
            }
        case .timestampMillis, .timestampMicros, .localTimestampMillis, .localTimestampMicros:
            let digits = (logical == .timestampMillis || logical == .localTimestampMillis) ? 3 : 6
            let zoned = logical == .timestampMillis || logical == .timestampMicros
            let shape = zoned ? "RFC 3339, e.g. 2026-11-28T04:12:25.123Z" : "e.g. 2026-11-28T04:12:25.123, no zone"
            switch value {
            case .int(let t): return .string(L.timestampText(t, digits: digits, zulu: zoned))
            case .string(let s):
                do { return .string(L.timestampText(try L.parseTimestamp(s, digits: digits, zoned: zoned), digits: digits, zulu: zoned)) } catch {
                    throw failure(path, error == .tooPrecise
                        ? "\(describe(value)) is more precise than \(logical)" : "expected \(logical) (\(shape)), got \(describe(value))")
                }
            default: throw mismatch(path, "\(logical) (\(shape))", value)
            }
        }
    }
}

extension AvroType {
    func isNamed(_ name: String) -> Bool {
        if case .named(let n) = self { return n.fullName == name || n.name == name }
        return false
    }
}
