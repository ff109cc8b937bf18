import Synchronization
import W3CTraceContext

/// Which traces are recorded: OpenTelemetry's samplers (`OTEL_TRACES_SAMPLER`), decided from the trace id
/// as `TraceIdRatioBased` does (the id's last 8 bytes against the ratio), so that every hop and every
/// instance of a cluster decides the same way for the same trace without talking to each other.
public struct TraceSampler: Sendable, Equatable {
    /// Trace ids whose last 8 bytes, shifted right once, are below this are recorded (`UInt64.max`: all).
    let threshold: UInt64
    /// A parent's sampled flag decides for its children (the `parentbased_*` samplers); otherwise each span
    /// decides by the ratio alone.
    public let parentBased: Bool

    /// - Parameter ratio: the share of traces recorded, 0...1 (values outside are clamped).
    public init(ratio: Double, parentBased: Bool) {
        let r = ratio.isNaN ? 0 : min(max(ratio, 0), 1)
        self.init(threshold: r >= 1 ? .max : UInt64(r * 9_223_372_036_854_775_808.0), parentBased: parentBased)
    }

    init(threshold: UInt64, parentBased: Bool) {
        self.threshold = threshold
        self.parentBased = parentBased
    }

    /// `parentbased_always_on`, OpenTelemetry's default: every new trace, and every child of a sampled parent.
    public static let alwaysOn = TraceSampler(ratio: 1, parentBased: true)

    /// Whether the trace `trace` belongs to is recorded when it starts there (and, not parent-based, at
    /// any hop), whatever its flags say.
    public func samples(_ trace: TraceParent) -> Bool { samples(traceId: trace.context.traceID) }

    func samples(traceId: TraceID) -> Bool {
        if threshold == .max { return true }
        let low = withUnsafeBytes(of: traceId.bytes) { raw in
            (8..<16).reduce(UInt64(0)) { $0 << 8 | UInt64(raw[$1]) }
        }
        return low >> 1 < threshold
    }

    enum Decision: Equatable {
        /// Recorded, with this context (flagged sampled).
        case record(TraceParent)
        /// Not recorded; the work it causes carries this context, flagged not sampled.
        case drop(TraceParent)
        /// Not recorded, and the parent (already flagged not sampled) passes on as it came.
        case passAsItCame
    }

    /// What becomes of a span under `parent`.
    func decision(under parent: TraceParent) -> Decision {
        if parentBased { return parent.isSampled ? .record(parent.child()) : .passAsItCame }
        if samples(traceId: parent.context.traceID) { return .record(parent.child(sampled: true)) }
        return parent.isSampled ? .drop(parent.child(sampled: false)) : .passAsItCame
    }
}

extension TraceSampler {
    private static let threshold = Atomic<UInt64>(TraceSampler.alwaysOn.threshold)
    private static let parentBasedFlag = Atomic<Bool>(true)

    /// The sampler in force (always on until `EventoTracing.bootstrap` installs another): what
    /// `TraceParent.newTrace()` asks.
    static var current: TraceSampler {
        TraceSampler(threshold: threshold.load(ordering: .relaxed), parentBased: parentBasedFlag.load(ordering: .relaxed))
    }

    static func install(_ sampler: TraceSampler) {
        threshold.store(sampler.threshold, ordering: .relaxed)
        parentBasedFlag.store(sampler.parentBased, ordering: .relaxed)
    }
}

extension TraceParent {
    /// Whether its flags say the trace is recorded.
    public var isSampled: Bool { context.flags.contains(.sampled) }
}
