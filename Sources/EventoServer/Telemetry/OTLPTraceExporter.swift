import EventoCore
import EventoHTTP
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Exports spans over OTLP/HTTP (`http/protobuf`) in batches, as OpenTelemetry's batch span processor does:
/// a bounded queue (spans beyond it are dropped and counted, never waited for), one export every schedule
/// delay or as soon as a batch is full, and what is left sent at shutdown.
///
/// Configured by the standard variables (`Configuration.fromEnvironment`). Recording a span costs a lock and
/// an append on the thread that ended it; encoding and the POST happen on the exporter's own task.
public final class OTLPTraceExporter: SpanExporter {
    public struct Configuration: Sendable {
        /// The full URL spans are POSTed to (`…/v1/traces`).
        public var endpoint: String
        public var headers: [(name: String, value: String)] = []
        public var resource: [(String, SpanValue)] = [("service.name", .string("evento"))]
        public var scheduleDelay: Duration = .seconds(5)
        public var maxQueueSize = 2048
        public var maxExportBatchSize = 512
        public var timeout: Duration = .seconds(10)
        /// Which traces are recorded (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
        public var sampler = TraceSampler.alwaysOn

        public init(endpoint: String) { self.endpoint = endpoint }

        /// From OpenTelemetry's environment variables; nil when no endpoint is set or the SDK is disabled.
        /// Throws (naming the variable) on a value Evento cannot honour, such as the `grpc` protocol.
        public static func fromEnvironment(_ env: [String: String]) throws(EventoError) -> Configuration? {
            func value(_ name: String) -> String? { env[name].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 } }
            if value("OTEL_SDK_DISABLED")?.lowercased() == "true" || value("OTEL_TRACES_EXPORTER")?.lowercased() == "none" { return nil }
            if let exporter = value("OTEL_TRACES_EXPORTER"), exporter.lowercased() != "otlp" {
                throw EventoError(.invalidRequest, "OTEL_TRACES_EXPORTER=\(exporter): Evento exports traces with otlp (or none)")
            }
            let endpoint: String
            if let traces = value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
                endpoint = traces
            } else if let base = value("OTEL_EXPORTER_OTLP_ENDPOINT") {
                endpoint = (base.hasSuffix("/") ? base : base + "/") + "v1/traces"
            } else {
                return nil
            }
            guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil else {
                throw EventoError(.invalidRequest, "OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT=\(endpoint) is not an http(s) URL")
            }
            var c = Configuration(endpoint: endpoint)
            for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
                guard let p = value(name) else { continue }
                guard p == "http/protobuf" else {
                    throw EventoError(.invalidRequest, "\(name)=\(p): Evento exports http/protobuf (point it at the collector's OTLP/HTTP port, 4318)")
                }
                break
            }
            for name in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"] {
                guard let list = value(name) else { continue }
                for (k, v) in try pairs(list, name) {
                    c.headers.removeAll { $0.name.lowercased() == k.lowercased() }
                    c.headers.append((k, v))
                }
            }
            var resource: [(String, SpanValue)] = []
            if let list = value("OTEL_RESOURCE_ATTRIBUTES") { resource = try pairs(list, "OTEL_RESOURCE_ATTRIBUTES").map { ($0.0, .string($0.1)) } }
            let service = value("OTEL_SERVICE_NAME") ?? resource.first { $0.0 == "service.name" }.flatMap { if case .string(let s) = $0.1 { s } else { nil } } ?? "evento"
            resource.removeAll { $0.0 == "service.name" }
            c.resource = [("service.name", .string(service))] + resource
            func milliseconds(_ name: String) throws(EventoError) -> Duration? {
                guard let text = value(name) else { return nil }
                guard let ms = Int(text), ms > 0 else { throw EventoError(.invalidRequest, "\(name)=\(text): expected milliseconds above 0") }
                return .milliseconds(ms)
            }
            func count(_ name: String) throws(EventoError) -> Int? {
                guard let text = value(name) else { return nil }
                guard let n = Int(text), n > 0 else { throw EventoError(.invalidRequest, "\(name)=\(text): expected a number above 0") }
                return n
            }
            if let d = try milliseconds("OTEL_BSP_SCHEDULE_DELAY") { c.scheduleDelay = d }
            if let d = try milliseconds("OTEL_EXPORTER_OTLP_TIMEOUT") { c.timeout = d }
            if let d = try milliseconds("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") { c.timeout = d }
            if let n = try count("OTEL_BSP_MAX_QUEUE_SIZE") { c.maxQueueSize = n }
            if let n = try count("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") { c.maxExportBatchSize = n }
            c.maxExportBatchSize = min(c.maxExportBatchSize, c.maxQueueSize)
            c.sampler = try sampler(sampler: value("OTEL_TRACES_SAMPLER"), argument: value("OTEL_TRACES_SAMPLER_ARG"))
            return c
        }

        /// OpenTelemetry's built-in samplers by name; the ratio ones take `OTEL_TRACES_SAMPLER_ARG` (0…1,
        /// default 1).
        static func sampler(sampler name: String?, argument: String?) throws(EventoError) -> TraceSampler {
            guard let name else { return .alwaysOn }
            func ratio() throws(EventoError) -> Double {
                guard let argument else { return 1 }
                guard let r = Double(argument), r.isFinite, (0...1).contains(r) else {
                    throw EventoError(.invalidRequest, "OTEL_TRACES_SAMPLER_ARG=\(argument): expected a ratio from 0 to 1 for \(name)")
                }
                return r
            }
            switch name.lowercased() {
            case "always_on": return TraceSampler(ratio: 1, parentBased: false)
            case "always_off": return TraceSampler(ratio: 0, parentBased: false)
            case "traceidratio": return TraceSampler(ratio: try ratio(), parentBased: false)
            case "parentbased_always_on": return .alwaysOn
            case "parentbased_always_off": return TraceSampler(ratio: 0, parentBased: true)
            case "parentbased_traceidratio": return TraceSampler(ratio: try ratio(), parentBased: true)
            default:
                throw EventoError(
                    .invalidRequest,
                    "OTEL_TRACES_SAMPLER=\(name): Evento knows always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off and parentbased_traceidratio")
            }
        }

        /// `key=value,key=value`, values percent-decoded (the W3C Baggage form the OTEL_* lists use).
        static func pairs(_ list: String, _ name: String) throws(EventoError) -> [(String, String)] {
            var result: [(String, String)] = []
            for item in list.split(separator: ",") {
                let text = item.trimmingCharacters(in: .whitespaces)
                guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
                    throw EventoError(.invalidRequest, "\(name): expected key=value, got \"\(text)\"")
                }
                let key = text[..<eq].trimmingCharacters(in: .whitespaces)
                let raw = text[text.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                result.append((key, raw.removingPercentEncoding ?? raw))
            }
            return result
        }
    }

    private struct Queue {
        var spans: [FinishedSpan] = []
        var dropped = 0
    }

    let configuration: Configuration
    private let http: HTTPClient
    private let logger: Logger
    private let queue = Mutex(Queue())
    /// Ticks when a batch is full: what the loop waits on between its scheduled exports.
    private let wake = CommitSignal()
    private let resource: OTLPEncoding.Resource
    private static let exported = Counter(label: "evento_trace_spans_exported_total")
    private static let dropped = Counter(label: "evento_trace_spans_dropped_total")

    /// The exporter has its own HTTP client (one connection is plenty), so that the functions' client can
    /// stop before the last spans are sent.
    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        var client = HTTPClient.Configuration()
        client.maxConnectionsPerHost = 2
        client.maxCachedConnections = 2
        self.http = HTTPClient(configuration: client)
        self.logger = logger
        resource = OTLPEncoding.Resource(attributes: configuration.resource + [("telemetry.sdk.name", .string("evento"))])
    }

    /// The instrumentation scope's version.
    static let version = "0.2"

    public func export(_ span: FinishedSpan) {
        let full: Bool = queue.withLock { q in
            guard q.spans.count < configuration.maxQueueSize else {
                q.dropped += 1
                return false
            }
            q.spans.append(span)
            return q.spans.count == configuration.maxExportBatchSize
        }
        if full { wake.advance(to: wake.head + 1) }
    }

    /// Exports until cancelled, then sends what is left.
    public func run() async {
        var seen = wake.head
        while !Task.isCancelled {
            // Returns at a tick after `seen`, at the delay, or on cancellation; a tick during the flush
            // makes the next wait return at once.
            seen = await wake.wait(after: seen, timeout: configuration.scheduleDelay)
            await flush()
        }
    }

    /// Stops the exporter's HTTP client (after the last flush).
    func shutdown() { http.shutdown() }

    /// Sends every queued span, a batch at a time; `until`: stop there (at shutdown, an unreachable collector
    /// must not hold the server), what is left is dropped and counted.
    public func flush(until deadline: ContinuousClock.Instant? = nil) async {
        while true {
            if let deadline, ContinuousClock.now >= deadline {
                let left = queue.withLock { q in
                    defer { q.spans.removeAll() }
                    return q.spans.count
                }
                if left > 0 {
                    Self.dropped.increment(by: left)
                    logger.warning("trace export: \(left) spans not sent by the shutdown deadline")
                }
                return
            }
            let (batch, dropped): ([FinishedSpan], Int) = queue.withLock { q in
                let n = min(q.spans.count, configuration.maxExportBatchSize)
                let batch = Array(q.spans.prefix(n))
                q.spans.removeFirst(n)
                defer { q.dropped = 0 }
                return (batch, q.dropped)
            }
            if dropped > 0 {
                Self.dropped.increment(by: dropped)
                logger.warning("trace export queue full: \(dropped) spans dropped (OTEL_BSP_MAX_QUEUE_SIZE=\(configuration.maxQueueSize))")
            }
            guard !batch.isEmpty else { return }
            await send(batch, retry: deadline == nil)
        }
    }

    private func send(_ batch: [FinishedSpan], retry: Bool) async {
        let body = OTLPEncoding.exportRequest(batch, resource: resource, scopeVersion: OTLPTraceExporter.version)
        let request = HTTPClientRequest(
            method: "POST", url: configuration.endpoint,
            headers: [("Content-Type", "application/x-protobuf")] + configuration.headers, body: body,
            timeout: configuration.timeout, maxResponseBytes: 64 * 1024)
        // One retry for what OTLP calls retryable (a transport failure, 429, 502–504); then the batch is
        // dropped and counted: tracing never holds back the work it describes.
        for attempt in 1...(retry ? 2 : 1) {
            do {
                let response = try await http.execute(request)
                if (200..<300).contains(response.status) {
                    Self.exported.increment(by: batch.count)
                    return
                }
                if retry, attempt == 1, [429, 502, 503, 504].contains(response.status) {
                    try? await Task.sleep(for: .seconds(1))
                    continue
                }
                logger.warning("trace export refused: HTTP \(response.status) \(response.bodyText.prefix(200))", metadata: ["endpoint": "\(configuration.endpoint)"])
            } catch {
                if retry, attempt == 1 {
                    try? await Task.sleep(for: .seconds(1))
                    continue
                }
                logger.warning("trace export failed: \(error)", metadata: ["endpoint": "\(configuration.endpoint)"])
            }
            break
        }
        Self.dropped.increment(by: batch.count)
    }
}

/// Runs the exporter for the server's life; started first, so it stops last and sends the final spans.
struct TracingService: Service {
    let exporter: OTLPTraceExporter

    func run() async throws {
        _ = await cancelWhenGracefulShutdown { await exporter.run() }
        await exporter.flush(until: .now + .seconds(5))
        exporter.shutdown()
    }
}
