import Synchronization

/// Tasks waiting for keyed outcomes (a command reaching a final status), with timeouts.
public final class Waiters<Value: Sendable>: Sendable {
    private struct State {
        var waiters: [String: [UInt64: CheckedContinuation<Value?, Never>]] = [:]
        var next: UInt64 = 0
    }
    private let state = Mutex(State())

    public init() {}

    /// Resumes everyone waiting on `key` with `value`.
    public func resolve(_ key: String, with value: Value) {
        let ready = state.withLock { s in s.waiters.removeValue(forKey: key).map { Array($0.values) } ?? [] }
        for c in ready { c.resume(returning: value) }
    }

    /// Waits for `resolve(key)`; nil at the deadline or on cancellation.
    /// `check` runs after registering, so an outcome that landed just before is not missed.
    public func wait(for key: String, timeout: Duration, check: @escaping @Sendable () async -> Value?) async -> Value? {
        let token = state.withLock { s -> UInt64 in
            s.next += 1
            return s.next
        }
        return await withTaskGroup(of: Value?.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (c: CheckedContinuation<Value?, Never>) in
                        let cancelled = self.state.withLock { s -> Bool in
                            if Task.isCancelled { return true }
                            s.waiters[key, default: [:]][token] = c
                            return false
                        }
                        if cancelled { c.resume(returning: nil) }
                    }
                } onCancel: {
                    self.cancel(key, token)
                }
            }
            group.addTask {
                if let v = await check() { return v }
                try? await Task.sleep(for: timeout)
                return nil
            }
            // Whichever finishes first decides: a resolved value, the check's value, or nil at the deadline.
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    private func cancel(_ key: String, _ token: UInt64) {
        let c = state.withLock { s -> CheckedContinuation<Value?, Never>? in
            let c = s.waiters[key]?.removeValue(forKey: token)
            if s.waiters[key]?.isEmpty == true { s.waiters[key] = nil }
            return c
        }
        c?.resume(returning: nil)
    }
}
