import Synchronization

/// Tasks waiting for keyed outcomes (a command reaching a final status), with timeouts.
///
/// A waiter registers before it checks whether the outcome is already there, and an outcome that lands
/// between the two is kept in the waiter's slot: registration, resolution and the wait itself all go
/// through one lock, so no wake-up is lost. Each continuation is resumed exactly once: whoever removes it
/// from the table under the lock resumes it, outside the lock.
public final class Waiters<Value: Sendable>: Sendable {
    private enum Slot {
        /// Registered; not waiting yet (the caller is checking).
        case registered
        case waiting(CheckedContinuation<Value?, Never>)
        /// Resolved before the caller started waiting.
        case resolved(Value)
    }

    private struct State {
        var slots: [String: [UInt64: Slot]] = [:]
        var next: UInt64 = 0

        mutating func remove(_ key: String, _ token: UInt64) -> Slot? {
            let slot = slots[key]?.removeValue(forKey: token)
            if slots[key]?.isEmpty == true { slots[key] = nil }
            return slot
        }
    }

    private let state = Mutex(State())

    public init() {}

    /// Waiters registered now (tests, metrics).
    public var count: Int { state.withLock { $0.slots.values.reduce(0) { $0 + $1.count } } }

    /// Resumes everyone waiting on `key` with `value`; those still checking find it when they wait.
    public func resolve(_ key: String, with value: Value) {
        let ready = state.withLock { s -> [CheckedContinuation<Value?, Never>] in
            guard var slots = s.slots[key] else { return [] }
            var ready: [CheckedContinuation<Value?, Never>] = []
            for (token, slot) in slots {
                switch slot {
                case .waiting(let c):
                    ready.append(c)
                    slots[token] = nil
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
        return await withTaskGroup(of: Value?.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (c: CheckedContinuation<Value?, Never>) in
                        // nil: now waiting; .some(v): resume at once with v.
                        let now = self.state.withLock { s -> Value?? in
                            switch s.slots[key]?[token] {
                            case .resolved(let v)?:
                                _ = s.remove(key, token)
                                return .some(v)
                            case .registered?:
                                if Task.isCancelled {
                                    _ = s.remove(key, token)
                                    return .some(nil)
                                }
                                s.slots[key]![token] = .waiting(c)
                                return nil
                            case .waiting?, nil:
                                // Removed by a cancellation that ran first.
                                return .some(nil)
                            }
                        }
                        if let now { c.resume(returning: now) }
                    }
                } onCancel: {
                    self.cancel(key, token)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            // Whichever finishes first decides: the resolved value, or nil at the deadline.
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    private func cancel(_ key: String, _ token: UInt64) {
        let slot = state.withLock { $0.remove(key, token) }
        if case .waiting(let c)? = slot { c.resume(returning: nil) }
    }
}
