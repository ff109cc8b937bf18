import EventoCore

/// Validates the natural JSON form of Avro data and returns it normalised: record fields in schema order
/// with defaults filled in, numbers as their Avro type wants them, logical types in their canonical text.
///
/// The natural form is plain JSON: a record is an object, a union is its bare value (or, where the bare
/// value fits no branch, Avro's wrapped form `{"type": value}`), bytes and fixed are strings of code
/// points U+0000…U+00FF, and logical types are written as text (see `AvroLogicalValues`). Errors name the
/// path and what was expected: `payload.amount: expected long, got "ten"`.
public enum AvroValidator {
    /// Deepest nesting of records, arrays and maps in a value checked against a schema. Validation recurses
    /// once or twice per level (a record, then the union that holds the next one), on the threads of Swift's
    /// cooperative pool whose stacks are 512 KB; 128 levels leave a wide margin (about 400 levels of a
    /// recursive record overflowed a debug build's stack), and payloads hardly go past 10.
    public static let maxDepth = 128

    public static func normalize(_ value: JSONValue, as type: AvroType, path: String) throws(EventoError) -> JSONValue {
        var budget = Budget(for: value)
        do {
            return try normalize(value, as: type, path: path, budget: &budget)
        } catch {
            throw budget.isExhausted ? budget.error(path) : error
        }
    }

    /// Bounds the work of one validation. Unions are matched by trying their branches, and a branch tried
    /// on a nested value validates all of it: with unions inside unions (a recursive schema, say) a client can
    /// make the tries multiply. Each value is normalised about once; the budget allows some tries more, then
    /// refuses the payload instead of working on it for minutes. It also tracks the nesting depth.
    ///
    /// Field defaults are filled in under the same depth and with an allowance of their own: what they make
    /// depends on the schema, not on the value. A record's default takes its own fields' defaults, so defaults
    /// can recur (a recursive record's field with a default: `{"name": "next", "type": "Node", "default": {}}`)
    /// or multiply (a record of two fields of a type with two fields of a type …, each defaulted).
    struct Budget {
        var remaining: Int
        let steps: Int
        var depth = 0
        /// Set when the value nests too deep: no other union branch can do better, so tries stop.
        var tooDeep = false
        /// Values made while filling in defaults (`inDefault` > 0), which spend these instead of `remaining`.
        var defaultValues = 0
        var inDefault = 0
        static let maxDefaultValues = 65_536

        init(for value: JSONValue) {
            // Count the value's nodes, without recursion.
            var nodes = 0
            var stack = [value]
            while let v = stack.popLast() {
                nodes += 1
                switch v {
                case .array(let a): stack.append(contentsOf: a)
                case .object(let o): for m in o { stack.append(m.value) }
                default: break
                }
            }
            steps = 16 * nodes + 1024
            remaining = steps
        }

        var isExhausted: Bool { remaining < 0 || defaultValues > Self.maxDefaultValues }

        /// Whether a failed union try ends the validation rather than moving on to the next branch.
        var stopsTries: Bool { isExhausted || tooDeep }

        mutating func enter(_ path: String) throws(EventoError) {
            depth += 1
            if depth > AvroValidator.maxDepth {
                tooDeep = true
                throw AvroValidator.failure(
                    path,
                    inDefault > 0
                        ? "the schema's field defaults make a value nested deeper than \(AvroValidator.maxDepth) levels of records, arrays and maps (does a recursive record's field have a default?)"
                        : "nested deeper than \(AvroValidator.maxDepth) levels of records, arrays and maps")
            }
        }

        mutating func leave() { depth -= 1 }

        mutating func spend(_ path: String) throws(EventoError) {
            if inDefault > 0 {
                defaultValues += 1
                if defaultValues > Self.maxDefaultValues { throw error(path) }
                return
            }
            remaining -= 1
            if remaining < 0 { throw error(path) }
        }

        func error(_ path: String) -> EventoError {
            if defaultValues > Self.maxDefaultValues {
                return AvroValidator.failure(path, "the schema's field defaults make more than \(Self.maxDefaultValues) values to fill in")
            }
            return AvroValidator.failure(path, "too costly to match against the schema's unions (more than \(steps) steps); make the value's union branches unambiguous, e.g. with the wrapped form {\"branch\": value}")
        }
    }

    static func normalize(_ value: JSONValue, as type: AvroType, path: String, budget: inout Budget) throws(EventoError) -> JSONValue {
        try budget.spend(path)
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
            try budget.enter(path)
            defer { budget.leave() }
            var out: [JSONValue] = []
            out.reserveCapacity(a.count)
            for (i, v) in a.enumerated() { out.append(try normalize(v, as: items, path: "\(path)[\(i)]", budget: &budget)) }
            return .array(out)
        case .map(let values):
            guard case .object(let o) = value else { throw mismatch(path, "map (an object)", value) }
            try budget.enter(path)
            defer { budget.leave() }
            var out: [JSONObject.Member] = []
            for m in o { out.append(.init(key: m.key, value: try normalize(m.value, as: values, path: "\(path).\(m.key)", budget: &budget))) }
            return .object(JSONObject(out))
        case .union(let branches):
            return try normalizeUnion(value, branches, path: path, budget: &budget)
        case .named(let n):
            switch n.kind {
            case .record(let fields):
                guard case .object(let o) = value else { throw mismatch(path, "\(n.fullName) (an object)", value) }
                try budget.enter(path)
                defer { budget.leave() }
                for m in o where !fields.contains(where: { $0.name == m.key }) {
                    throw EventoError(.validation, "\(path): unknown field \"\(m.key)\"", field: "\(path).\(m.key)")
                }
                var out: [JSONObject.Member] = []
                out.reserveCapacity(fields.count)
                for f in fields {
                    let fpath = "\(path).\(f.name)"
                    if let v = o[f.name] {
                        out.append(.init(key: f.name, value: try normalize(v, as: f.type, path: fpath, budget: &budget)))
                    } else if let d = f.defaultValue {
                        out.append(.init(key: f.name, value: try naturalDefault(d, f.type, path: fpath, budget: &budget)))
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
    /// accepts it, else Avro's wrapped form. The encoder uses the same choice. Each branch is tried once.
    static func branchIndex(_ value: JSONValue, _ branches: [AvroType]) -> Int? {
        var budget = Budget(for: value)
        if case .null = value { return branches.firstIndex { if case .null = $0 { true } else { false } } }
        for i in candidateOrder(value, branches) {
            if (try? normalize(value, as: branches[i], path: "", budget: &budget)) != nil { return i }
            if budget.stopsTries { return nil }
        }
        return nil
    }

    /// Branch indexes in the order they are tried: those of the value's own kind first, then the others.
    private static func candidateOrder(_ value: JSONValue, _ branches: [AvroType]) -> [Int] {
        let same = branches.indices.filter { strictKindMatch(value, branches[$0]) }
        return same + branches.indices.filter { !strictKindMatch(value, branches[$0]) }
    }

    /// The branch named by Avro's wrapped form `{"branch": value}`.
    static func wrappedBranch(_ value: JSONValue, _ branches: [AvroType]) -> (Int, JSONValue)? {
        guard case .object(let o) = value, o.count == 1, let m = o.members.first,
            let i = branches.firstIndex(where: { $0.branchName == m.key || ($0.underlying.isNamed(m.key)) })
        else { return nil }
        return (i, m.value)
    }

    private static func normalizeUnion(
        _ value: JSONValue, _ branches: [AvroType], path: String, budget: inout Budget
    ) throws(EventoError) -> JSONValue {
        if case .null = value, branches.contains(where: { if case .null = $0 { true } else { false } }) { return .null }
        // When one branch is plainly meant (the only non-null one, or the only one of the value's kind), its
        // own error says more than "expected one of". Its error is kept from its try: trying it again would
        // validate the value twice per level of nesting, which doubles with every level.
        let nonNull = branches.indices.filter { if case .null = branches[$0] { false } else { true } }
        let sameKind = branches.indices.filter { strictKindMatch(value, branches[$0]) }
        let meant = nonNull.count == 1 ? nonNull.first : (sameKind.count == 1 ? sameKind.first : nil)
        var meantError: EventoError?
        if case .null = value {} else {
            for i in candidateOrder(value, branches) {
                do {
                    return try normalize(value, as: branches[i], path: path, budget: &budget)
                } catch {
                    if budget.stopsTries { throw error }
                    if i == meant { meantError = error }
                }
            }
        }
        if let (i, inner) = wrappedBranch(value, branches) { return try normalize(inner, as: branches[i], path: path, budget: &budget) }
        if let meantError { throw meantError }
        if let meant { return try normalize(value, as: branches[meant], path: path, budget: &budget) }
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

    /// A field default (Avro JSON encoding) in its natural, normalised form, made under the validation's budget.
    static func naturalDefault(_ d: JSONValue, _ type: AvroType, path: String, budget: inout Budget) throws(EventoError) -> JSONValue {
        budget.inDefault += 1
        defer { budget.inDefault -= 1 }
        if case .union(let b) = type, let first = b.first { return try normalize(d, as: first, path: path, budget: &budget) }
        return try normalize(d, as: type, path: path, budget: &budget)
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
            case .int(let days) where Int32(exactly: days) != nil:
                guard Self.textDays.contains(days) else { throw outsideYears(path, logical, value) }
                return .string(L.dateText(days: days))
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
            let t: Int64
            switch value {
            case .int(let i): t = i
            case .string(let s):
                do { t = try L.parseTimestamp(s, digits: digits, zoned: zoned) } catch {
                    throw failure(path, error == .tooPrecise
                        ? "\(describe(value)) is more precise than \(logical)" : "expected \(logical) (\(shape)), got \(describe(value))")
                }
            default: throw mismatch(path, "\(logical) (\(shape))", value)
            }
            // An integer, or a time its zone offset carries over a year's end, may fall outside the years the
            // text can show.
            let unit: Int64 = digits == 3 ? 1000 : 1_000_000
            guard (Self.textDays.lowerBound * 86_400 * unit..<(Self.textDays.upperBound + 1) * 86_400 * unit).contains(t) else {
                throw outsideYears(path, logical, value)
            }
            return .string(L.timestampText(t, digits: digits, zulu: zoned))
        }
    }
}

extension AvroValidator {
    /// The days, since 1970-01-01, of the years 0000–9999: the dates and timestamps whose natural text (four
    /// digits of year) can show them. Avro's integers go further; the text would not parse again.
    static let textDays = AvroLogicalValues.daysFromCivil(0, 1, 1)...AvroLogicalValues.daysFromCivil(9999, 12, 31)

    static func outsideYears(_ path: String, _ logical: AvroLogical, _ value: JSONValue) -> EventoError {
        failure(path, "expected \(logical) within the years 0000–9999, got \(describe(value))")
    }
}

extension AvroType {
    func isNamed(_ name: String) -> Bool {
        if case .named(let n) = self { return n.fullName == name || n.name == name }
        return false
    }
}
