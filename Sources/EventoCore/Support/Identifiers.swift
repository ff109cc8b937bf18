/// Generated identifiers.
public enum Identifiers {
    /// A UUIDv7 (RFC 9562): time-ordered, so ids generated later sort later, in lowercase text form.
    public static func uuidV7(now: Timestamp = .now()) -> String {
        var rng = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 16)
        let ms = UInt64(bitPattern: now.millisecondsSinceEpoch)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: ms >> (40 - 8 * UInt64(i))) }
        let r1 = rng.next() as UInt64
        let r2 = rng.next() as UInt64
        for i in 0..<2 { bytes[6 + i] = UInt8(truncatingIfNeeded: r1 >> (8 * UInt64(i))) }
        for i in 0..<8 { bytes[8 + i] = UInt8(truncatingIfNeeded: r2 >> (8 * UInt64(i))) }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // RFC 9562 variant
        return uuidText(bytes)
    }

    /// Formats 16 bytes as 8-4-4-4-12 lowercase hex.
    public static func uuidText(_ bytes: [UInt8]) -> String {
        precondition(bytes.count == 16)
        var out = [UInt8]()
        out.reserveCapacity(36)
        for (i, b) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
            out.append(hexDigit(b >> 4))
            out.append(hexDigit(b & 0xF))
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Lowercase hex of bytes.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        for b in bytes {
            out.append(hexDigit(b >> 4))
            out.append(hexDigit(b & 0xF))
        }
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always) static func hexDigit(_ v: UInt8) -> UInt8 {
        v < 10 ? UInt8(ascii: "0") + v : UInt8(ascii: "a") + v - 10
    }

    public static func randomBytes(_ n: Int) -> [UInt8] {
        // Eight bytes per draw (each draw of the system generator is a getrandom call).
        var rng = SystemRandomNumberGenerator()
        var bytes: [UInt8] = []
        bytes.reserveCapacity(n + 7)
        while bytes.count < n {
            var word = rng.next()
            for _ in 0..<8 {
                bytes.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        bytes.removeLast(bytes.count - n)
        return bytes
    }
}

/// W3C Trace Context `traceparent`: `00-<trace-id 32 hex>-<parent-id 16 hex>-<flags 2 hex>`.
public struct TraceParent: Sendable, Hashable, CustomStringConvertible {
    public let traceId: String
    public let parentId: String
    public let flags: String

    public var description: String { "00-\(traceId)-\(parentId)-\(flags)" }

    /// Parses a header value; `nil` when it does not follow the W3C format.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", parts[1].count == 32, parts[2].count == 16,
            parts[3].count == 2
        else { return nil }
        if parts[0] == "00" && parts.count != 4 { return nil }
        func isLowerHex(_ s: Substring) -> Bool { s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) } }
        guard parts[0...3].allSatisfy(isLowerHex) else { return nil }
        guard parts[1].contains(where: { $0 != "0" }), parts[2].contains(where: { $0 != "0" }) else { return nil }
        traceId = String(parts[1])
        parentId = String(parts[2])
        flags = String(parts[3])
    }

    private init(traceId: String, parentId: String, flags: String) {
        self.traceId = traceId
        self.parentId = parentId
        self.flags = flags
    }

    /// A new trace, sampled.
    public static func newTrace() -> TraceParent {
        TraceParent(traceId: Identifiers.hex(Identifiers.randomBytes(16)), parentId: Identifiers.hex(Identifiers.randomBytes(8)), flags: "01")
    }

    /// The same trace with a new span as parent: what a hop (command → handler → event) propagates.
    public func child() -> TraceParent {
        TraceParent(traceId: traceId, parentId: Identifiers.hex(Identifiers.randomBytes(8)), flags: flags)
    }
}
