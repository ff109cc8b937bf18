import EventoCore

/// OTLP's trace export request (`opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest`) in
/// protobuf's binary form, written directly: the dozen fields Evento's spans use, no generated code. The
/// field numbers are those of opentelemetry-proto's `trace.proto`, `resource.proto` and `common.proto`.
enum OTLPEncoding {
    struct Resource: Sendable {
        var attributes: [(String, SpanValue)]
    }

    static func exportRequest(_ spans: some Collection<FinishedSpan>, resource: Resource, scopeVersion: String) -> [UInt8] {
        var w = ProtobufWriter()
        w.message(1) { rs in  // ResourceSpans resource_spans = 1
            rs.message(1) { r in  // Resource resource = 1
                for (k, v) in resource.attributes { r.message(1) { keyValue(&$0, k, v) } }
            }
            rs.message(2) { ss in  // ScopeSpans scope_spans = 2
                ss.message(1) { scope in  // InstrumentationScope scope = 1
                    scope.string(1, "evento")
                    scope.string(2, scopeVersion)
                }
                for span in spans { ss.message(2) { write(span, to: &$0) } }  // repeated Span spans = 2
            }
        }
        return w.bytes
    }

    static func write(_ span: FinishedSpan, to w: inout ProtobufWriter) {
        w.bytes(1, span.traceId)  // trace_id
        w.bytes(2, span.spanId)  // span_id
        if let parent = span.parentSpanId { w.bytes(4, parent) }  // parent_span_id
        w.string(5, span.name)  // name
        w.varint(6, UInt64(span.kind.rawValue))  // kind
        w.fixed64(7, span.startNanos)  // start_time_unix_nano
        w.fixed64(8, span.endNanos)  // end_time_unix_nano
        for (k, v) in span.attributes { w.message(9) { keyValue(&$0, k, v) } }  // attributes
        if let error = span.error {
            w.message(15) { st in  // Status status = 15
                st.string(2, error)  // message
                st.varint(3, 2)  // code: STATUS_CODE_ERROR
            }
        }
    }

    /// `KeyValue { string key = 1; AnyValue value = 2; }`, `AnyValue { string_value = 1; bool_value = 2; int_value = 3; }`.
    static func keyValue(_ w: inout ProtobufWriter, _ key: String, _ value: SpanValue) {
        w.string(1, key)
        w.message(2) { a in
            switch value {
            case .string(let s): a.string(1, s, always: true)
            case .bool(let b): a.varint(2, b ? 1 : 0, always: true)
            case .int(let i): a.varint(3, UInt64(bitPattern: i), always: true)
            }
        }
    }
}

/// Protobuf's wire format, as far as OTLP needs it: varints, fixed64, length-delimited bytes and messages.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func rawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func tag(_ field: Int, _ wireType: UInt64) { rawVarint(UInt64(field) << 3 | wireType) }

    /// A varint field; a zero is left out (proto3's default) unless `always` (a oneof member must be present).
    mutating func varint(_ field: Int, _ value: UInt64, always: Bool = false) {
        guard value != 0 || always else { return }
        tag(field, 0)
        rawVarint(value)
    }

    mutating func fixed64(_ field: Int, _ value: UInt64) {
        tag(field, 1)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func bytes(_ field: Int, _ value: [UInt8]) {
        tag(field, 2)
        rawVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ field: Int, _ value: String, always: Bool = false) {
        guard !value.isEmpty || always else { return }
        tag(field, 2)
        rawVarint(UInt64(value.utf8.count))
        bytes.append(contentsOf: value.utf8)
    }

    /// A nested message: written after its length, which is known once it is written.
    mutating func message(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        body(&inner)
        tag(field, 2)
        rawVarint(UInt64(inner.bytes.count))
        bytes.append(contentsOf: inner.bytes)
    }
}
