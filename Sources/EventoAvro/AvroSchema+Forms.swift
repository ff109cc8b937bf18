import EventoCore

extension AvroType {
    /// The Parsing Canonical Form (Avro specification): what fingerprints are computed over, and what
    /// tells two schemas apart when only their meaning counts.
    public var canonicalForm: String {
        var seen: Set<String> = []
        var w = JSONWriter()
        writeCanonical(&w, &seen)
        return w.string
    }

    private func writeCanonical(_ w: inout JSONWriter, _ seen: inout Set<String>) {
        switch self {
        case .null, .boolean, .int, .long, .float, .double, .bytes, .string: w.string(description)
        case .logical(_, let base): base.writeCanonical(&w, &seen)
        case .array(let items):
            w.raw(#"{"type":"array","items":"#)
            items.writeCanonical(&w, &seen)
            w.raw("}")
        case .map(let values):
            w.raw(#"{"type":"map","values":"#)
            values.writeCanonical(&w, &seen)
            w.raw("}")
        case .union(let branches):
            w.raw("[")
            for (i, b) in branches.enumerated() {
                if i > 0 { w.raw(",") }
                b.writeCanonical(&w, &seen)
            }
            w.raw("]")
        case .named(let n):
            if seen.contains(n.fullName) {
                w.string(n.fullName)
                return
            }
            seen.insert(n.fullName)
            w.raw(#"{"name":"#)
            w.string(n.fullName)
            switch n.kind {
            case .record(let fields):
                w.raw(#","type":"record","fields":["#)
                for (i, f) in fields.enumerated() {
                    if i > 0 { w.raw(",") }
                    w.raw(#"{"name":"#)
                    w.string(f.name)
                    w.raw(#","type":"#)
                    f.type.writeCanonical(&w, &seen)
                    w.raw("}")
                }
                w.raw("]}")
            case .enumeration(let symbols, _):
                w.raw(#","type":"enum","symbols":["#)
                for (i, s) in symbols.enumerated() {
                    if i > 0 { w.raw(",") }
                    w.string(s)
                }
                w.raw("]}")
            case .fixed(let size):
                w.raw(#","type":"fixed","size":"#)
                w.int(size)
                w.raw("}")
            }
        }
    }

    /// CRC-64-AVRO (Rabin) fingerprint of the canonical form.
    public var fingerprint: UInt64 { AvroFingerprint.crc64(Array(canonicalForm.utf8)) }

    /// The schema as standalone JSON: every named type it uses is defined inline at its first use, so the
    /// text stands alone (what a schema registry serves). Docs, defaults, logical types and other
    /// attributes are kept.
    public func standaloneJSON() -> JSONValue {
        var seen: Set<String> = []
        return json(&seen, namespace: nil)
    }

    /// `namespace`: the enclosing namespace, which a named type without one would otherwise take when parsed.
    private func json(_ seen: inout Set<String>, namespace: String?) -> JSONValue {
        switch self {
        case .null, .boolean, .int, .long, .float, .double, .bytes, .string: return .string(description)
        case .logical(let l, let base):
            var o: JSONObject
            switch base.json(&seen, namespace: namespace) {
            case .object(let obj): o = obj
            case let other: o = ["type": other]
            }
            switch l {
            case .decimal(let p, let s):
                o["logicalType"] = "decimal"
                o["precision"] = .int(Int64(p))
                o["scale"] = .int(Int64(s))
            default:
                o["logicalType"] = .string(l.description)
            }
            return .object(o)
        case .array(let items): return ["type": "array", "items": items.json(&seen, namespace: namespace)]
        case .map(let values): return ["type": "map", "values": values.json(&seen, namespace: namespace)]
        case .union(let branches): return .array(branches.map { $0.json(&seen, namespace: namespace) })
        case .named(let n):
            if seen.contains(n.fullName) { return .string(n.fullName) }
            seen.insert(n.fullName)
            var o: JSONObject = [:]
            switch n.kind {
            case .record: o["type"] = "record"
            case .enumeration: o["type"] = "enum"
            case .fixed: o["type"] = "fixed"
            }
            o["name"] = .string(n.name)
            if let ns = n.namespace {
                o["namespace"] = .string(ns)
            } else if namespace != nil {
                o["namespace"] = ""  // the null namespace, not the enclosing one
            }
            if let doc = n.doc { o["doc"] = .string(doc) }
            if !n.aliases.isEmpty { o["aliases"] = .array(n.aliases.map(JSONValue.string)) }
            switch n.kind {
            case .record(let fields):
                o["fields"] = .array(
                    fields.map { f in
                        var fo: JSONObject = ["name": .string(f.name), "type": f.type.json(&seen, namespace: n.namespace)]
                        if let d = f.defaultValue { fo["default"] = d }
                        if let doc = f.doc { fo["doc"] = .string(doc) }
                        if !f.aliases.isEmpty { fo["aliases"] = .array(f.aliases.map(JSONValue.string)) }
                        return .object(fo)
                    })
            case .enumeration(let symbols, let def):
                o["symbols"] = .array(symbols.map(JSONValue.string))
                if let def { o["default"] = .string(def) }
            case .fixed(let size):
                o["size"] = .int(Int64(size))
            }
            for m in n.properties { o[m.key] = m.value }
            return .object(o)
        }
    }
}

/// The CRC-64-AVRO fingerprint of the Avro specification.
enum AvroFingerprint {
    static let empty: UInt64 = 0xc15d_213a_a4d7_a795
    static let table: [UInt64] = (0..<256).map { i in
        var fp = UInt64(i)
        for _ in 0..<8 { fp = (fp >> 1) ^ (empty & (0 &- (fp & 1))) }
        return fp
    }

    static func crc64(_ bytes: [UInt8]) -> UInt64 {
        var fp = empty
        for b in bytes { fp = (fp >> 8) ^ table[Int((fp ^ UInt64(b)) & 0xff)] }
        return fp
    }
}
