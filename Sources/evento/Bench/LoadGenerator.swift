import EventoCore
import Foundation
import Synchronization

/// What one operation of a load did.
struct Outcome: Sendable {
    var ok: Bool
    /// Units of work (events in a batch, commands).
    var units: Int
    var error: String?
    /// Refused with 429 (the server's backlog was full): not an error; the client backed off.
    var refused = false

    static let refusedOutcome = Outcome(ok: false, units: 0, error: nil, refused: true)
}

/// The figures of a load run.
struct LoadResult: Sendable {
    var operations: Int
    var units: Int
    var errors: Int
    var firstError: String?
    var seconds: Double
    /// Latencies of the successful operations, microseconds, sorted.
    var latencies: [UInt32]
    /// Operations refused with 429 (each followed by a back-off).
    var refused = 0
    /// Latencies of the successful operations from when each was actually sent (open loop: without the
    /// schedule's slip), microseconds, sorted.
    var serviceLatencies: [UInt32] = []

    func serviceMs(_ p: Double) -> Double {
        guard !serviceLatencies.isEmpty else { return 0 }
        let i = min(serviceLatencies.count - 1, Int((p / 100 * Double(serviceLatencies.count)).rounded(.up)) - 1)
        return Double(serviceLatencies[max(0, i)]) / 1000
    }

    var throughput: Double { Double(units) / max(seconds, 1e-9) }
    func percentileMs(_ p: Double) -> Double {
        guard !latencies.isEmpty else { return 0 }
        let i = min(latencies.count - 1, Int((p / 100 * Double(latencies.count)).rounded(.up)) - 1)
        return Double(latencies[max(0, i)]) / 1000
    }
    var maxMs: Double { Double(latencies.last ?? 0) / 1000 }
}

/// Drives `concurrency` workers for `duration`, closed loop (each worker sends as soon as its previous
/// operation finished) or, with `rate`, open loop at that many operations per second in all, with latency
/// measured from each operation's intended start (so a stall is not hidden by the schedule slipping).
struct LoadGenerator {
    var concurrency: Int
    var duration: Duration
    var rate: Double?
    var label: String
    var unitName: String
    var progress = true

    /// Counters the workers share.
    final class Shared: Sendable {
        let units = Atomic<Int>(0)
        let errors = Atomic<Int>(0)
        let refused = Atomic<Int>(0)
        let service = Mutex<[UInt32]>([])
        let firstError = Mutex<String?>(nil)
    }

    func run(_ operation: @escaping @Sendable (_ worker: Int, _ iteration: Int) async -> Outcome) async -> LoadResult {
        let shared = Shared()
        let start = ContinuousClock.now
        let end = start + duration
        let perWorkerInterval: Duration? = rate.map { .nanoseconds(Int64(Double(concurrency) / $0 * 1e9)) }
        let results = await withTaskGroup(of: [UInt32].self) { group in
            for w in 0..<concurrency {
                group.addTask {
                    var latencies: [UInt32] = []
                    latencies.reserveCapacity(100_000)
                    var served: [UInt32] = []
                    var i = 0
                    // Open loop: stagger the workers' schedules across one interval.
                    var intended = start + (perWorkerInterval.map { $0 * (Double(w) / Double(concurrency)) } ?? .zero)
                    while ContinuousClock.now < end {
                        if perWorkerInterval != nil {
                            if intended > ContinuousClock.now { try? await Task.sleep(until: intended, clock: .continuous) }
                            if intended >= end { break }
                        } else {
                            intended = .now
                        }
                        let sent = ContinuousClock.now
                        let outcome = await operation(w, i)
                        let latency = ContinuousClock.now - intended
                        if outcome.ok {
                            shared.units.add(outcome.units, ordering: .relaxed)
                            latencies.append(UInt32(clamping: Int64(latency / .microseconds(1))))
                            if perWorkerInterval != nil { served.append(UInt32(clamping: Int64((ContinuousClock.now - sent) / .microseconds(1)))) }
                        } else if outcome.refused {
                            shared.refused.add(1, ordering: .relaxed)
                        } else {
                            shared.errors.add(1, ordering: .relaxed)
                            if let e = outcome.error { shared.firstError.withLock { $0 = $0 ?? e } }
                        }
                        if let interval = perWorkerInterval { intended += interval }
                        i += 1
                    }
                    shared.service.withLock { $0 += served }
                    return latencies
                }
            }
            if progress {
                group.addTask {
                    var last = 0
                    var lastTime = start
                    while ContinuousClock.now < end {
                        try? await Task.sleep(for: .seconds(1))
                        let now = ContinuousClock.now
                        let u = shared.units.load(ordering: .relaxed)
                        let rate = Double(u - last) / max(Double((now - lastTime) / .milliseconds(1)) / 1000, 1e-9)
                        let elapsed = Int(Double((now - start) / .milliseconds(1)) / 1000)
                        let refused = shared.refused.load(ordering: .relaxed)
                        let line = "\r[\(label)] \(elapsed)s  \(Format.int(Int(rate))) \(unitName)/s  errors \(shared.errors.load(ordering: .relaxed))"
                            + (refused > 0 ? "  429s \(refused) (backing off)" : "") + "   "
                        FileHandle.standardError.write(Data(line.utf8))
                        last = u
                        lastTime = now
                    }
                    FileHandle.standardError.write(Data("\n".utf8))
                    return []
                }
            }
            var all: [UInt32] = []
            for await r in group { all += r }
            return all
        }
        let seconds = Double((ContinuousClock.now - start) / .milliseconds(1)) / 1000
        return LoadResult(
            operations: results.count + shared.errors.load(ordering: .relaxed), units: shared.units.load(ordering: .relaxed),
            errors: shared.errors.load(ordering: .relaxed), firstError: shared.firstError.withLock { $0 }, seconds: seconds,
            latencies: results.sorted(), refused: shared.refused.load(ordering: .relaxed), serviceLatencies: shared.service.withLock { $0 }.sorted())
    }
}

enum Format {
    static func int(_ v: Int) -> String {
        let s = String(v)
        var out = ""
        for (i, c) in s.reversed().enumerated() {
            if i > 0 && i % 3 == 0 && c != "-" { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }

    static func ms(_ v: Double) -> String { String(format: "%.2f ms", v) }
    static func mb(_ bytes: Int) -> String { String(format: "%.0f MB", Double(bytes) / 1_048_576) }
    static func ratio(_ a: Double, _ b: Double) -> String { b > 0 ? String(format: "%.0f%%", a / b * 100) : "n/a" }
}

/// A value shared by concurrent closures (a class, so escaping closures capture a reference rather than a
/// non-copyable local `Mutex`).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
    var value: Value { mutex.withLock { $0 } }
}

/// A counter shared by concurrent closures (see `Locked`).
final class Counter: Sendable {
    private let atomic = Atomic<Int>(0)
    func add(_ n: Int) { atomic.add(n, ordering: .relaxed) }
    var value: Int { atomic.load(ordering: .relaxed) }
}
