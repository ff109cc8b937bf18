import Foundation
import Synchronization

/// Tasks waiting for keyed outcomes (a command reaching a final status), with timeouts.
///
/// A waiter registers before it checks whether the outcome is already there, and an outcome that lands
/// between the two is kept in the waiter's slot: registration, resolution and the wait itself all go
/// through one lock, so no wake-up is lost. Each continuation is resumed exactly once: whoever removes it
/// from the table under the lock resumes it, outside the lock.
///
/// Deadlines are kept in the slots and swept by one thread of its own every `sweepInterval` (the
/// precision of the timeouts), not by a timer and a child task per wait: a command submitted with
/// `?wait=true` costs a slot, not three tasks.
public final class Waiters<Value: Sendable>: Sendable {
    private enum Slot {
        /// Registered; not waiting yet (the caller is checking).
        case registered
        case waiting(CheckedContinuation<Value?, Never>, deadline: ContinuousClock.Instant)
        /// Resolved before the caller started waiting.
        case resolved(Value)
    }

    private struct State {
        var slots: [String: [UInt64: Slot]] = [:]
        var next: UInt64 = 0
        /// Waiting slots (for the sweeper to skip work when there are none).
        var waiting = 0

        mutating func remove(_ key: String, _ token: UInt64) -> Slot? {
            let slot = slots[key]?.removeValue(forKey: token)
            if slots[key]?.isEmpty == true { slots[key] = nil }
            if case .waiting? = slot { waiting -= 1 }
            return slot
        }
    }

    private let state = Mutex(State())
    private let sweeper: OwnedThreads<Never>

    /// - Parameter sweepInterval: how often expired waits are ended (their timeouts' precision).
    public init(sweepInterval: Duration = .milliseconds(20)) {
        let target = SweepTarget()
        sweeper = OwnedThreads(name: "evento-waiters", tick: sweepInterval) { _, _ in target.sweep() }
        target.set { [weak self] in self?.expire() }
    }

    // Not waiting: the last reference may be dropped on the sweeper's own thread.
    deinit { sweeper.stop(wait: false) }

    /// Waiters registered now (tests, metrics).
    public var count: Int { state.withLock { $0.slots.values.reduce(0) { $0 + $1.count } } }

    /// The keys waited on now.
    public func keys() -> [String] { state.withLock { Array($0.slots.keys) } }

    /// Whether anyone waits on `key`.
    public func isWaiting(_ key: String) -> Bool { state.withLock { $0.slots[key] != nil } }

    /// Resumes everyone waiting on `key` with `value`; those still checking find it when they wait.
    public func resolve(_ key: String, with value: Value) {
        let ready = state.withLock { s -> [CheckedContinuation<Value?, Never>] in
            guard var slots = s.slots[key] else { return [] }
            var ready: [CheckedContinuation<Value?, Never>] = []
            for (token, slot) in slots {
                switch slot {
                case .waiting(let c, _):
                    ready.append(c)
                    slots[token] = nil
                    s.waiting -= 1
                case .registered, .resolved:
                    slots[token] = .resolved(value)
                }
            }
            s.slots[key] = slots.isEmpty ? nil : slots
            return ready
        }
        for c in ready { c.resume(returning: value) }
    }

    /// Waits for `resolve(key)`; nil at the deadline or on cancellation.
    /// `check` runs after registering, so an outcome that landed just before is not missed.
    public func wait(for key: String, timeout: Duration, check: @Sendable () async -> Value?) async -> Value? {
        let token = state.withLock { s -> UInt64 in
            s.next += 1
            s.slots[key, default: [:]][s.next] = .registered
            return s.next
        }
        if let v = await check() {
            _ = state.withLock { $0.remove(key, token) }
            return v
        }
        let deadline = ContinuousClock.now + timeout
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Value?, Never>) in
                // nil: now waiting; .some(v): resume at once with v.
                let now = state.withLock { s -> Value?? in
                    switch s.slots[key]?[token] {
                    case .resolved(let v)?:
                        _ = s.remove(key, token)
                        return .some(v)
                    case .registered?:
                        if Task.isCancelled {
                            _ = s.remove(key, token)
                            return .some(nil)
                        }
                        s.slots[key]![token] = .waiting(c, deadline: deadline)
                        s.waiting += 1
                        return nil
                    case .waiting?, nil:
                        // Removed by a cancellation that ran first.
                        return .some(nil)
                    }
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            let slot = state.withLock { $0.remove(key, token) }
            if case .waiting(let c, _)? = slot { c.resume(returning: nil) }
        }
    }

    /// Ends the waits whose deadline passed (the sweeper's tick).
    private func expire() {
        let now = ContinuousClock.now
        let expired = state.withLock { s -> [CheckedContinuation<Value?, Never>] in
            guard s.waiting > 0 else { return [] }
            // Found first, removed after: removing while iterating would copy the table at each removal.
            var due: [(key: String, token: UInt64)] = []
            for (key, slots) in s.slots {
                for (token, slot) in slots {
                    if case .waiting(_, let deadline) = slot, deadline <= now { due.append((key, token)) }
                }
            }
            var expired: [CheckedContinuation<Value?, Never>] = []
            for (key, token) in due {
                if case .waiting(let c, _)? = s.remove(key, token) { expired.append(c) }
            }
            return expired
        }
        for c in expired { c.resume(returning: nil) }
    }
}

/// Lets the sweeper's thread reach its `Waiters` without keeping it alive.
private final class SweepTarget: Sendable {
    private let action = Mutex<(@Sendable () -> Void)?>(nil)
    func set(_ f: @escaping @Sendable () -> Void) { action.withLock { $0 = f } }
    func sweep() { action.withLock { $0 }?() }
}
