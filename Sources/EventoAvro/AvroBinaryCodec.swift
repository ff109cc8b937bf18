internal import CAvro
import EventoCore
import Synchronization

/// An error from the Avro C library or from encoding, with its message.
public struct AvroError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    static func fromLibrary(_ context: String) -> AvroError {
        AvroError(message: "\(context): \(String(cString: avro_strerror()))")
    }
}

/// A schema as the Avro C library holds it. Created from a schema's standalone JSON.
final class CAvroSchema: @unchecked Sendable {
    // @unchecked: avro-c schemas are immutable after parsing and reference counted atomically.
    let raw: avro_schema_t

    init(json: String) throws(AvroError) {
        var schema: avro_schema_t?
        let rc = json.withCString { avro_schema_from_json_length($0, json.utf8.count, &schema) }
        guard rc == 0, let schema else { throw AvroError.fromLibrary("Avro C rejected the schema") }
        raw = schema
    }

    deinit { avro_schema_decref(raw) }
}

/// Avro binary encoding and decoding of natural JSON for one schema, through the Avro C library's
/// generic values.
///
/// `encode` takes a value `AvroValidator.normalize` accepted; `decode` returns the same normalised
/// natural form, so JSON → binary → JSON is the identity on normalised values.
public final class AvroBinaryCodec: @unchecked Sendable {
    // @unchecked: the C value and interface are only touched under `lock`.
    public let type: AvroType
    private let schema: CAvroSchema
    private let iface: UnsafeMutablePointer<avro_value_iface_t>
    private let lock = Mutex(())

    public init(_ type: AvroType) throws(AvroError) {
        self.type = type
        schema = try CAvroSchema(json: type.standaloneJSON().jsonText)
        guard let iface = avro_generic_class_from_schema(schema.raw) else {
            throw AvroError.fromLibrary("cannot build a value class")
        }
        self.iface = iface
    }

    deinit { evento_avro_iface_decref(iface) }

    /// Avro binary of a normalised natural value.
    public func encode(_ value: JSONValue) throws(AvroError) -> [UInt8] {
        try lock.withLock { _ throws(AvroError) in
            var v = avro_value_t()
            guard avro_generic_value_new(iface, &v) == 0 else { throw AvroError.fromLibrary("cannot create a value") }
            defer { avro_value_decref(&v) }
            try fill(&v, value, type, path: "")
            var size = 0
            guard avro_value_sizeof(&v, &size) == 0 else { throw AvroError.fromLibrary("cannot size the value") }
            var out = [UInt8](repeating: 0, count: size)
            let rc = out.withUnsafeMutableBytes { buf -> Int32 in
                guard let writer = avro_writer_memory(buf.baseAddress!.assumingMemoryBound(to: CChar.self), Int64(size)) else { return -1 }
                defer { avro_writer_free(writer) }
                return avro_value_write(writer, &v)
            }
            guard rc == 0 else { throw AvroError.fromLibrary("cannot write the value") }
            return out
        }
    }

    /// The normalised natural value of Avro binary.
    public func decode(_ bytes: [UInt8]) throws(AvroError) -> JSONValue {
        // First without recursion: what a client sends may nest as deep as it has bytes (recursive schemas),
        // and the C reader and `read` below recurse once per level. Depth: what validation takes. Values: a
        // few per byte, or a floor.
        try AvroBinaryScan.check(bytes, type, maxDepth: AvroValidator.maxDepth, maxValues: max(65_536, 4 * bytes.count))
        return try lock.withLock { _ throws(AvroError) in
            var v = avro_value_t()
            guard avro_generic_value_new(iface, &v) == 0 else { throw AvroError.fromLibrary("cannot create a value") }
            defer { avro_value_decref(&v) }
            let storage = bytes.isEmpty ? [0] : bytes  // a valid pointer even for an empty input
            let rc = storage.withUnsafeBytes { buf -> Int32 in
                guard let reader = avro_reader_memory(buf.baseAddress!.assumingMemoryBound(to: CChar.self), Int64(bytes.count)) else { return -1 }
                defer { avro_reader_free(reader) }
                return avro_value_read(reader, &v)
            }
            guard rc == 0 else { throw AvroError.fromLibrary("cannot read Avro binary") }
            return try read(&v, type)
        }
    }

    // MARK: JSON → C value

    private func check(_ rc: Int32, _ path: String) throws(AvroError) {
        if rc != 0 { throw AvroError.fromLibrary("at \(path.isEmpty ? "the top" : path)") }
    }

    private func fill(_ v: inout avro_value_t, _ json: JSONValue, _ type: AvroType, path: String) throws(AvroError) {
        typealias L = AvroLogicalValues
        switch (type, json) {
        case (.logical(let l, let base), .string(let s)):
            switch l {
            case .decimal(let precision, let scale):
                guard let unscaled = L.unscaled(s, precision: precision, scale: scale) else { throw bad(path, json, type) }
                var size: Int? = nil
                if case .named(let n) = base, case .fixed(let fixedSize) = n.kind { size = fixedSize }
                guard var bytes = L.twosComplement(unscaled, size: size) else { throw bad(path, json, type) }
                try check(size == nil ? evento_avro_set_bytes(&v, &bytes, bytes.count) : evento_avro_set_fixed(&v, &bytes, bytes.count), path)
            case .uuid:
                try fill(&v, json, base, path: path)
            case .date:
                guard let d = try? L.parseDate(s), let i = Int32(exactly: d) else { throw bad(path, json, type) }
                try check(evento_avro_set_int(&v, i), path)
            case .timeMillis:
                guard let t = try? L.parseTime(s, digits: 3) else { throw bad(path, json, type) }
                try check(evento_avro_set_int(&v, Int32(t)), path)
            case .timeMicros:
                guard let t = try? L.parseTime(s, digits: 6) else { throw bad(path, json, type) }
                try check(evento_avro_set_long(&v, t), path)
            case .timestampMillis, .timestampMicros, .localTimestampMillis, .localTimestampMicros:
                let digits = (l == .timestampMillis || l == .localTimestampMillis) ? 3 : 6
                let zoned = l == .timestampMillis || l == .timestampMicros
                guard let t = try? L.parseTimestamp(s, digits: digits, zoned: zoned) else { throw bad(path, json, type) }
                try check(evento_avro_set_long(&v, t), path)
            }
        case (.logical(_, let base), _):
            try fill(&v, json, base, path: path)
        case (.null, .null):
            try check(evento_avro_set_null(&v), path)
        case (.boolean, .bool(let b)):
            try check(evento_avro_set_boolean(&v, b ? 1 : 0), path)
        case (.int, .int(let i)):
            guard let i32 = Int32(exactly: i) else { throw bad(path, json, type) }
            try check(evento_avro_set_int(&v, i32), path)
        case (.long, .int(let i)):
            try check(evento_avro_set_long(&v, i), path)
        case (.float, .double(let d)):
            try check(evento_avro_set_float(&v, Float(d)), path)
        case (.float, .int(let i)):
            try check(evento_avro_set_float(&v, Float(i)), path)
        case (.double, .double(let d)):
            try check(evento_avro_set_double(&v, d), path)
        case (.double, .int(let i)):
            try check(evento_avro_set_double(&v, Double(i)), path)
        case (.string, .string(let s)):
            try check(s.withCString { evento_avro_set_string_len(&v, $0, s.utf8.count + 1) }, path)
        case (.bytes, .string(let s)):
            guard var bytes = L.bytes(fromText: s) else { throw bad(path, json, type) }
            try check(evento_avro_set_bytes(&v, &bytes, bytes.count), path)
        case (.array(let items), .array(let a)):
            for (i, item) in a.enumerated() {
                var child = avro_value_t()
                try check(evento_avro_append(&v, &child), path)
                try fill(&child, item, items, path: "\(path)[\(i)]")
            }
        case (.map(let values), .object(let o)):
            for m in o {
                var child = avro_value_t()
                try check(m.key.withCString { evento_avro_add(&v, $0, &child) }, path)
                try fill(&child, m.value, values, path: "\(path).\(m.key)")
            }
        case (.union(let branches), _):
            var index = AvroValidator.branchIndex(json, branches)
            var inner = json
            if index == nil, let (i, wrapped) = AvroValidator.wrappedBranch(json, branches) {
                index = i
                inner = wrapped
            }
            guard let index else { throw bad(path, json, type) }
            var branch = avro_value_t()
            try check(evento_avro_set_branch(&v, Int32(index), &branch), path)
            try fill(&branch, inner, branches[index], path: path)
        case (.named(let n), _):
            switch (n.kind, json) {
            case (.record(let fields), .object(let o)):
                for (i, f) in fields.enumerated() {
                    var child = avro_value_t()
                    try check(evento_avro_get_by_index(&v, i, &child, nil), path)
                    guard let fv = o[f.name] else { throw AvroError(message: "\(path).\(f.name): missing (normalise before encoding)") }
                    try fill(&child, fv, f.type, path: "\(path).\(f.name)")
                }
            case (.enumeration(let symbols, _), .string(let s)):
                guard let i = symbols.firstIndex(of: s) else { throw bad(path, json, type) }
                try check(evento_avro_set_enum(&v, Int32(i)), path)
            case (.fixed(let size), .string(let s)):
                guard var bytes = L.bytes(fromText: s), bytes.count == size else { throw bad(path, json, type) }
                try check(evento_avro_set_fixed(&v, &bytes, bytes.count), path)
            default:
                throw bad(path, json, type)
            }
        default:
            throw bad(path, json, type)
        }
    }

    private func bad(_ path: String, _ json: JSONValue, _ type: AvroType) -> AvroError {
        AvroError(message: "\(path.isEmpty ? "value" : path): \(AvroValidator.describe(json)) cannot be encoded as \(type)")
    }

    // MARK: C value → JSON

    private func read(_ v: inout avro_value_t, _ type: AvroType) throws(AvroError) -> JSONValue {
        typealias L = AvroLogicalValues
        switch type {
        case .logical(let l, let base):
            switch l {
            case .decimal(_, let scale):
                var p: UnsafeRawPointer?
                var size = 0
                let isFixed = if case .named = base { true } else { false }
                try check(isFixed ? evento_avro_get_fixed(&v, &p, &size) : evento_avro_get_bytes(&v, &p, &size), "decimal")
                let bytes = Array(UnsafeRawBufferPointer(start: p, count: size))
                guard let unscaled = L.fromTwosComplement(bytes) else { throw AvroError(message: "decimal wider than 128 bits") }
                return .string(L.decimalText(unscaled, scale: scale))
            case .uuid:
                return try read(&v, base)
            case .date:
                var i: Int32 = 0
                try check(evento_avro_get_int(&v, &i), "date")
                return .string(L.dateText(days: Int64(i)))
            case .timeMillis:
                var i: Int32 = 0
                try check(evento_avro_get_int(&v, &i), "time")
                return .string(L.timeText(Int64(i), digits: 3))
            case .timeMicros:
                var i: Int64 = 0
                try check(evento_avro_get_long(&v, &i), "time")
                return .string(L.timeText(i, digits: 6))
            case .timestampMillis, .timestampMicros, .localTimestampMillis, .localTimestampMicros:
                var i: Int64 = 0
                try check(evento_avro_get_long(&v, &i), "timestamp")
                let digits = (l == .timestampMillis || l == .localTimestampMillis) ? 3 : 6
                return .string(L.timestampText(i, digits: digits, zulu: l == .timestampMillis || l == .timestampMicros))
            }
        case .null:
            return .null
        case .boolean:
            var b: Int32 = 0
            try check(evento_avro_get_boolean(&v, &b), "boolean")
            return .bool(b != 0)
        case .int:
            var i: Int32 = 0
            try check(evento_avro_get_int(&v, &i), "int")
            return .int(Int64(i))
        case .long:
            var i: Int64 = 0
            try check(evento_avro_get_long(&v, &i), "long")
            return .int(i)
        case .float:
            var f: Float = 0
            try check(evento_avro_get_float(&v, &f), "float")
            return .double(Double(f))
        case .double:
            var d: Double = 0
            try check(evento_avro_get_double(&v, &d), "double")
            return .double(d)
        case .string:
            var p: UnsafePointer<CChar>?
            var size = 0
            try check(evento_avro_get_string(&v, &p, &size), "string")
            guard let p else { return .string("") }
            // avro-c counts the terminating NUL in the size.
            return .string(String(decoding: UnsafeRawBufferPointer(start: p, count: max(0, size - 1)), as: UTF8.self))
        case .bytes:
            var p: UnsafeRawPointer?
            var size = 0
            try check(evento_avro_get_bytes(&v, &p, &size), "bytes")
            return .string(L.text(fromBytes: UnsafeRawBufferPointer(start: p, count: size)))
        case .array(let items):
            var count = 0
            try check(evento_avro_get_size(&v, &count), "array")
            var out: [JSONValue] = []
            out.reserveCapacity(count)
            for i in 0..<count {
                var child = avro_value_t()
                try check(evento_avro_get_by_index(&v, i, &child, nil), "array")
                out.append(try read(&child, items))
            }
            return .array(out)
        case .map(let values):
            var count = 0
            try check(evento_avro_get_size(&v, &count), "map")
            var out: [JSONObject.Member] = []
            for i in 0..<count {
                var child = avro_value_t()
                var key: UnsafePointer<CChar>?
                try check(evento_avro_get_by_index(&v, i, &child, &key), "map")
                out.append(.init(key: key.map { String(cString: $0) } ?? "", value: try read(&child, values)))
            }
            return .object(JSONObject(out))
        case .union(let branches):
            var d: Int32 = 0
            try check(evento_avro_get_discriminant(&v, &d), "union")
            var branch = avro_value_t()
            try check(evento_avro_get_current_branch(&v, &branch), "union")
            guard branches.indices.contains(Int(d)) else { throw AvroError(message: "union branch \(d) out of range") }
            return try read(&branch, branches[Int(d)])
        case .named(let n):
            switch n.kind {
            case .record(let fields):
                var out: [JSONObject.Member] = []
                out.reserveCapacity(fields.count)
                for (i, f) in fields.enumerated() {
                    var child = avro_value_t()
                    try check(evento_avro_get_by_index(&v, i, &child, nil), n.fullName)
                    out.append(.init(key: f.name, value: try read(&child, f.type)))
                }
                return .object(JSONObject(out))
            case .enumeration(let symbols, _):
                var i: Int32 = 0
                try check(evento_avro_get_enum(&v, &i), n.fullName)
                guard symbols.indices.contains(Int(i)) else { throw AvroError(message: "enum index \(i) out of range") }
                return .string(symbols[Int(i)])
            case .fixed:
                var p: UnsafeRawPointer?
                var size = 0
                try check(evento_avro_get_fixed(&v, &p, &size), n.fullName)
                return .string(L.text(fromBytes: UnsafeRawBufferPointer(start: p, count: size)))
            }
        }
    }
}

/// Checks a schema with the Avro C library (it parses it and resolves it against itself): a second opinion
/// on schemas that clients register.
public enum AvroResolution {
    /// nil when Avro C accepts `type`; else its reason.
    public static func problem(with type: AvroType) -> String? {
        do {
            let schema = try CAvroSchema(json: type.standaloneJSON().jsonText)
            guard let iface = avro_resolved_writer_new(schema.raw, schema.raw) else { return String(cString: avro_strerror()) }
            evento_avro_iface_decref(iface)
            return nil
        } catch {
            return error.message
        }
    }
}
