import Foundation
import Metrics
import Prometheus

/// The Prometheus backend for swift-metrics, and the process figures read at each scrape.
public enum EventoPrometheus {
    static let registry = PrometheusCollectorRegistry()
    static let residentMemory = registry.makeGauge(
        descriptor: MetricNameDescriptor(namespace: "process", metricName: "resident_memory", unitName: "bytes", helpText: "Resident set size."))
    static let peakResidentMemory = registry.makeGauge(
        descriptor: MetricNameDescriptor(namespace: "process", metricName: "resident_memory_peak", unitName: "bytes", helpText: "Peak resident set size (VmHWM)."))

    /// Makes swift-metrics report to Evento's Prometheus registry (call once, before building the application).
    public static func bootstrap() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
        factory.defaultValueHistogramBuckets = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000, 10000]
        MetricsSystem.bootstrap(factory)
    }

    /// The Prometheus text exposition.
    static func exposition() -> [UInt8] {
        let (rss, peak) = processMemory()
        residentMemory.set(Double(rss))
        peakResidentMemory.set(Double(peak))
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }

    /// Current and peak resident memory of this process, in bytes (from /proc/self/status).
    public static func processMemory() -> (current: Int, peak: Int) {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        func kb(_ key: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return 0 }
            return (Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty }?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0) * 1024
        }
        return (kb("VmRSS:"), kb("VmHWM:"))
    }
}
