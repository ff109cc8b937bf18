/// Writes compact JSON into a byte buffer.
///
/// Responses are assembled by appending directly (envelope fields, then the stored payload text spliced in
/// verbatim), so an event read from the store is never parsed just to be printed again.
public struct JSONWriter: Sendable {
    public var bytes: [UInt8]

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    @inline(__always) public mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends text that is already valid JSON (a stored payload, say).
    public mutating func rawJSON(_ text: String) {
        var t = text
        t.withUTF8 { bytes.append(contentsOf: $0) }
    }

    public mutating func rawJSON(_ json: RawJSON) { rawJSON(json.text) }

    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { buf in
            bytes.append(UInt8(ascii: "\""))
            var runStart = 0
            for i in 0..<buf.count {
                let b = buf[i]
                if b >= 0x20 && b != 0x22 && b != 0x5C { continue }
                if runStart < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[runStart..<i])) }
                runStart = i + 1
                switch b {
                case 0x22: raw("\\\"")
                case 0x5C: raw("\\\\")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                case 0x08: raw("\\b")
                case 0x0C: raw("\\f")
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
                }
            }
            if runStart < buf.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buf[runStart..<buf.count])) }
            bytes.append(UInt8(ascii: "\""))
        }
    }

    public mutating func int<I: BinaryInteger>(_ v: I) {
        if v >= 0 && v < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(v))
            return
        }
        rawJSON(String(v))
    }

    public mutating func double(_ d: Double) {
        guard d.isFinite else {
            raw("null")
            return
        }
        // Swift prints the shortest text that round-trips, and integral doubles keep their ".0".
        rawJSON(d.description)
    }

    public mutating func bool(_ b: Bool) {
        if b { raw("true") } else { raw("false") }
    }

    public mutating func null() { raw("null") }

    public mutating func value(_ v: JSONValue) {
        switch v {
        case .null: null()
        case .bool(let b): bool(b)
        case .int(let i): int(i)
        case .double(let d): double(d)
        case .string(let s): string(s)
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                value(item)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let obj):
            bytes.append(UInt8(ascii: "{"))
            for (i, m) in obj.members.enumerated() {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                string(m.key)
                bytes.append(UInt8(ascii: ":"))
                value(m.value)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    // MARK: Object helpers

    /// Writes `{`, then the body's members, then `}`; `ObjectWriter` places the commas.
    public mutating func object(_ body: (inout ObjectWriter) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        // Move the buffer into the object writer and back, so it stays uniquely referenced: with
        // `self = ow.writer`, `ow` would still hold it and the append below would copy the whole output
        // (quadratic in a feed page of objects).
        var ow = ObjectWriter(writer: JSONWriter(capacity: 0))
        swap(&ow.writer.bytes, &bytes)
        body(&ow)
        swap(&ow.writer.bytes, &bytes)
        bytes.append(UInt8(ascii: "}"))
    }

    public mutating func array<S: Sequence>(_ items: S, _ body: (inout JSONWriter, S.Element) -> Void) {
        bytes.append(UInt8(ascii: "["))
        var first = true
        for item in items {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            body(&self, item)
        }
        bytes.append(UInt8(ascii: "]"))
    }
}

/// Writes the members of one JSON object, placing commas.
public struct ObjectWriter {
    public var writer: JSONWriter
    private var first = true

    init(writer: JSONWriter) { self.writer = writer }

    @inline(__always) public mutating func key(_ k: StaticString) {
        if !first { writer.bytes.append(UInt8(ascii: ",")) }
        first = false
        writer.bytes.append(UInt8(ascii: "\""))
        writer.raw(k)
        writer.raw("\":")
    }

    public mutating func key(_ k: String) {
        if !first { writer.bytes.append(UInt8(ascii: ",")) }
        first = false
        writer.string(k)
        writer.bytes.append(UInt8(ascii: ":"))
    }

    public mutating func field(_ k: StaticString, _ s: String) {
        key(k)
        writer.string(s)
    }

    /// Writes the member only when the value is present.
    public mutating func field(_ k: StaticString, _ s: String?) {
        guard let s else { return }
        field(k, s)
    }

    public mutating func field(_ k: StaticString, _ i: Int64) {
        key(k)
        writer.int(i)
    }

    public mutating func field(_ k: StaticString, _ i: Int) {
        key(k)
        writer.int(i)
    }

    public mutating func field(_ k: StaticString, _ b: Bool) {
        key(k)
        writer.bool(b)
    }

    public mutating func field(_ k: StaticString, json: RawJSON) {
        key(k)
        writer.rawJSON(json)
    }

    public mutating func field(_ k: StaticString, value: JSONValue) {
        key(k)
        writer.value(value)
    }

    public mutating func field(_ k: String, value: JSONValue) {
        key(k)
        writer.value(value)
    }

    public mutating func object(_ k: StaticString, _ body: (inout ObjectWriter) -> Void) {
        key(k)
        writer.object(body)
    }

    public mutating func array<S: Sequence>(_ k: StaticString, _ items: S, _ body: (inout JSONWriter, S.Element) -> Void) {
        key(k)
        writer.array(items, body)
    }
}

extension JSONValue {
    /// Compact JSON text of this value.
    public var jsonText: String {
        var w = JSONWriter()
        w.value(self)
        return w.string
    }
}
