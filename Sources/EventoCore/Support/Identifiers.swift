#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import W3CTraceContext

/// Generated identifiers.
public enum Identifiers {
    /// A UUIDv7 (RFC 9562): time-ordered, so ids generated later sort later, in lowercase text form.
    public static func uuidV7(now: Timestamp = .now()) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let ms = UInt64(bitPattern: now.millisecondsSinceEpoch)
        for i in 0..<6 { bytes[i] = UInt8(truncatingIfNeeded: ms >> (40 - 8 * UInt64(i))) }
        RandomPool.shared.fill(&bytes, from: 6)
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
    /// The bytes lowercase hex digits spell (`hex`'s inverse); nil for anything else.
    public static func bytes(hex text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let hi = nibble(digits[i]), let lo = nibble(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

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
        var bytes = [UInt8](repeating: 0, count: n)
        RandomPool.shared.fill(&bytes, from: 0)
        return bytes
    }
}

/// A generator over `RandomPool` (for APIs that take a `RandomNumberGenerator`).
struct PooledRandom: RandomNumberGenerator {
    mutating func next() -> UInt64 {
        var bytes = [UInt8](repeating: 0, count: 8)
        RandomPool.shared.fill(&bytes, from: 0)
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }
}

/// Cryptographically random bytes from the kernel, drawn 4 KiB at a time: an id needs 10 random bytes,
/// and a getrandom call for each (what `SystemRandomNumberGenerator` makes per 8 bytes) cost more than
/// the rest of making the id.
final class RandomPool: Sendable {
    static let shared = RandomPool()

    private struct Buffer {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var used = 4096
    }
    private let buffer = Mutex(Buffer())

    /// Overwrites `bytes[start...]` with random bytes.
    func fill(_ bytes: inout [UInt8], from start: Int) {
        buffer.withLock { b in
            for i in start..<bytes.count {
                if b.used == b.bytes.count {
                    Self.draw(&b.bytes)
                    b.used = 0
                }
                bytes[i] = b.bytes[b.used]
                b.bytes[b.used] = 0  // never hand out the same byte twice, even after a failed draw
                b.used += 1
            }
        }
    }

    private static func draw(_ bytes: inout [UInt8]) {
        // /dev/urandom: the kernel's CSPRNG, one read per 4 KiB (Glibc's module does not export getrandom).
        let fd = urandom
        bytes.withUnsafeMutableBytes { raw in
            var filled = 0
            while filled < raw.count {
                let n = read(fd, raw.baseAddress! + filled, raw.count - filled)
                if n > 0 { filled += n } else if n < 0 && errno == EINTR { continue } else { fatalError("cannot read /dev/urandom: errno \(errno)") }
            }
        }
    }

    private static let urandom: Int32 = {
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        precondition(fd >= 0, "cannot open /dev/urandom: errno \(errno)")
        return fd
    }()
}

/// W3C Trace Context `traceparent`: `00-<trace-id 32 hex>-<parent-id 16 hex>-<flags 2 hex>`, parsed and made by
/// swift-w3c-trace-context (the library OpenTelemetry's Swift packages share).
public struct TraceParent: Sendable, Hashable, CustomStringConvertible {
    let context: TraceContext

    public var traceId: String { context.traceID.description }
    public var parentId: String { context.spanID.description }
    public var flags: String { String(context.traceParentHeaderValue.suffix(2)) }

    public var description: String { context.traceParentHeaderValue }

    /// Parses a header value; `nil` when it does not follow the W3C format (version 00, lowercase hex,
    /// non-zero ids).
    public init?(_ text: String) {
        // The library accepts uppercase hex; the specification does not.
        guard !text.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x46 }) else { return nil }
        guard let context = try? TraceContext(traceParentHeaderValue: text) else { return nil }
        self.context = context
    }

    private init(_ context: TraceContext) { self.context = context }

    /// A new trace, flagged sampled when the tracing sampler picks it (always, unless a sampler with a ratio
    /// below 1 is configured: see `EventoTracing.bootstrap`).
    public static func newTrace() -> TraceParent {
        var random = PooledRandom()
        let traceID = TraceID.random(using: &random)
        let flags: TraceFlags = TraceSampler.current.samples(traceId: traceID) ? .sampled : []
        return TraceParent(TraceContext(traceID: traceID, spanID: .random(using: &random), flags: flags, state: TraceState()))
    }

    /// The same trace with a new span as parent: what a hop (command → handler → event) propagates.
    /// `sampled`: flag it so (a sampler that does not follow the parent's flag decided to record it).
    public func child(sampled: Bool? = nil) -> TraceParent {
        var random = PooledRandom()
        var flags = context.flags
        if let sampled { if sampled { flags.insert(.sampled) } else { flags.remove(.sampled) } }
        return TraceParent(TraceContext(traceID: context.traceID, spanID: .random(using: &random), flags: flags, state: context.state))
    }

    public static func == (a: TraceParent, b: TraceParent) -> Bool { a.description == b.description }
    public func hash(into hasher: inout Hasher) { hasher.combine(description) }
}
