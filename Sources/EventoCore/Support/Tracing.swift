#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import W3CTraceContext

/// OpenTelemetry spans, recorded where a command crosses Evento (the HTTP request, the command, each
/// function call, the store commit, the Kafka publish) and handed to an exporter (`EventoTracing.bootstrap`).
///
/// A span's parent is an envelope's `traceparent`, and what Evento propagates onward (to a function, to the
/// events a command produces, to the commands a dispatcher returns, to a Kafka record) is the span's own
/// context, so that one trace shows a command crossing Evento and its functions. Without an exporter, or
/// under a parent that is not sampled, no span is made (`start` answers nil) and propagation is what it
/// always was: a child of the parent's context.
public enum EventoTracing {
    private static let exporter = Mutex<(any SpanExporter)?>(nil)
    private static let enabled = Atomic<Bool>(false)

    /// Sends finished spans to `exporter` (nil: spans are not recorded), of the traces `sampler` picks. Set
    /// once at start.
    public static func bootstrap(_ exporter: (any SpanExporter)?, sampler: TraceSampler = .alwaysOn) {
        Self.exporter.withLock { $0 = exporter }
        TraceSampler.install(sampler)
        enabled.store(exporter != nil, ordering: .releasing)
    }

    public static var isEnabled: Bool { enabled.load(ordering: .acquiring) }

    /// A span under `parent` (a `traceparent`), or a new trace's root when there is none. Nil when tracing
    /// is off or the parent is not sampled.
    /// (`name` is built only when a span is made: nothing is spent on it with tracing off.)
    public static func start(_ name: @autoclosure () -> String, kind: SpanKind = .internal, parent: String?) -> Span? {
        guard isEnabled else { return nil }
        return start(name(), kind: kind, parent: parent.flatMap(TraceParent.init))
    }

    ///
    /// A span the sampler drops where the context must still change (a new trace it leaves out; a sampled
    /// parent that a sampler not following parents drops) is non-recording: it records and exports
    /// nothing, and its `traceparent`, flagged not sampled, is what the work it causes carries, so that no
    /// later hop records a piece of that trace either.
    public static func start(_ name: @autoclosure () -> String, kind: SpanKind = .internal, parent: TraceParent?) -> Span? {
        guard isEnabled else { return nil }
        guard let parent else {
            let root = TraceParent.newTrace()
            guard root.isSampled else { return Span(nonRecording: root) }
            return Span(name: name(), kind: kind, context: root, parentSpanId: nil)
        }
        switch TraceSampler.current.decision(under: parent) {
        case .record(let context): return Span(name: name(), kind: kind, context: context, parentSpanId: parent.spanIdBytes)
        case .drop(let context): return Span(nonRecording: context)
        case .passAsItCame: return nil
        }
    }

    static func finish(_ span: FinishedSpan) {
        exporter.withLock { $0 }?.export(span)
    }

    /// Nanoseconds since the Unix epoch (what OTLP's timestamps count).
    static func nowNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// Where finished spans go (the OTLP exporter; a test's recorder).
public protocol SpanExporter: Sendable {
    /// Called on the thread that ended the span: must not block.
    func export(_ span: FinishedSpan)
}

/// OTLP's span kinds (their protobuf numbers).
public enum SpanKind: Int, Sendable {
    case `internal` = 1, server = 2, client = 3, producer = 4, consumer = 5
}

/// An attribute value.
public enum SpanValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case bool(Bool)
}

/// A span being recorded: started by `EventoTracing.start`, ended (and exported) by `end()`.
public struct Span: Sendable {
    public var name: String
    public let kind: SpanKind
    let context: TraceParent
    let parentSpanId: [UInt8]?
    let startNanos: UInt64
    var attributes: [(String, SpanValue)] = []
    var error: String?
    /// False for a span the sampler dropped: it only carries its context on (flagged not sampled).
    public let isRecording: Bool

    init(name: String, kind: SpanKind, context: TraceParent, parentSpanId: [UInt8]?) {
        self.name = name
        self.kind = kind
        self.context = context
        self.parentSpanId = parentSpanId
        self.startNanos = EventoTracing.nowNanos()
        self.isRecording = true
    }

    init(nonRecording context: TraceParent) {
        self.name = ""
        self.kind = .internal
        self.context = context
        self.parentSpanId = nil
        self.startNanos = 0
        self.isRecording = false
    }

    /// This span as a parent: what to propagate to the work it causes.
    public var traceparent: String { context.description }

    public mutating func set(_ key: String, _ value: String) { if isRecording { attributes.append((key, .string(value))) } }
    public mutating func set(_ key: String, _ value: Int) { if isRecording { attributes.append((key, .int(Int64(value)))) } }
    public mutating func set(_ key: String, _ value: Bool) { if isRecording { attributes.append((key, .bool(value))) } }

    /// A span under this one, recording when this one is.
    public func child(_ name: @autoclosure () -> String, kind: SpanKind = .internal) -> Span {
        guard isRecording else { return Span(nonRecording: context.child()) }
        return Span(name: name(), kind: kind, context: context.child(), parentSpanId: context.spanIdBytes)
    }

    /// Marks the span failed (OTLP status ERROR with this message).
    public mutating func fail(_ message: String) { if isRecording { error = message } }

    /// Ends the span now and hands it to the exporter (a non-recording span: nothing).
    public func end() {
        guard isRecording else { return }
        EventoTracing.finish(
            FinishedSpan(
                traceId: context.traceIdBytes, spanId: context.spanIdBytes, parentSpanId: parentSpanId, name: name, kind: kind,
                startNanos: startNanos, endNanos: max(EventoTracing.nowNanos(), startNanos), attributes: attributes, error: error))
    }
}

/// A span as exported.
public struct FinishedSpan: Sendable {
    public var traceId: [UInt8]
    public var spanId: [UInt8]
    public var parentSpanId: [UInt8]?
    public var name: String
    public var kind: SpanKind
    public var startNanos: UInt64
    public var endNanos: UInt64
    public var attributes: [(String, SpanValue)]
    /// Nil: status unset (OK); otherwise ERROR with this message.
    public var error: String?
}

extension TraceParent {
    var traceIdBytes: [UInt8] { withUnsafeBytes(of: context.traceID.bytes) { Array($0) } }
    var spanIdBytes: [UInt8] { withUnsafeBytes(of: context.spanID.bytes) { Array($0) } }
}
