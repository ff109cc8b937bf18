import Synchronization

/// Tracks the last committed event position and wakes tasks waiting for a later one
/// (long-polling feeds, the outbox relay, dispatchers).
///
/// Clients' long polls wait with `longPoll`, the server's own loops with `wait`: at shutdown
/// `endLongPolls` answers the clients at once (the HTTP server waits for answers in flight before it
/// exits), while the relays keep waiting normally until they are stopped.
public final class CommitSignal: Sendable {
    private struct Waiter {
        var after: Int64
        var continuation: CheckedContinuation<Int64, Never>
        var isLongPoll: Bool
    }
    private struct State {
        var head: Int64 = 0
        var waiters: [UInt64: Waiter] = [:]
        var nextId: UInt64 = 0
        /// Set by `endLongPolls`: long polls return at once from then on.
        var longPollsEnded = false
    }
    private let state = Mutex(State())

    public init(head: Int64 = 0) {
        state.withLock { $0.head = head }
    }

    public var head: Int64 { state.withLock { $0.head } }

    /// Records a commit; resumes everyone waiting for a position below `head`.
    public func advance(to head: Int64) {
        let ready: [CheckedContinuation<Int64, Never>] = state.withLock { s in
            guard head > s.head else { return [] }
            s.head = head
            var ready: [CheckedContinuation<Int64, Never>] = []
            for (id, w) in s.waiters where w.after < head {
                ready.append(w.continuation)
                s.waiters[id] = nil
            }
            return ready
        }
        for c in ready { c.resume(returning: head) }
    }

    /// Returns the head once it is beyond `position`, or at the deadline, or on cancellation, whichever is first.
    public func wait(after position: Int64, timeout: Duration) async -> Int64 {
        await wait(after: position, timeout: timeout, isLongPoll: false)
    }

    /// A client's long poll: like `wait`, and also returns at once after `endLongPolls`.
    public func longPoll(after position: Int64, timeout: Duration) async -> Int64 {
        await wait(after: position, timeout: timeout, isLongPoll: true)
    }

    /// Answers every long poll now and every later one at once (at shutdown: clients get what there is
    /// instead of holding the server open until their deadlines).
    public func endLongPolls() {
        let ready: [(CheckedContinuation<Int64, Never>, Int64)] = state.withLock { s in
            s.longPollsEnded = true
            var ready: [(CheckedContinuation<Int64, Never>, Int64)] = []
            for (id, w) in s.waiters where w.isLongPoll {
                ready.append((w.continuation, s.head))
                s.waiters[id] = nil
            }
            return ready
        }
        for (c, head) in ready { c.resume(returning: head) }
    }

    private func wait(after position: Int64, timeout: Duration, isLongPoll: Bool) async -> Int64 {
        let current = head
        if current > position { return current }
        let id = state.withLock { s -> UInt64 in
            s.nextId += 1
            return s.nextId
        }
        return await withTaskGroup(of: Int64.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (c: CheckedContinuation<Int64, Never>) in
                        let resumeNow: Int64? = self.state.withLock { s in
                            if s.head > position || Task.isCancelled || (isLongPoll && s.longPollsEnded) { return s.head }
                            s.waiters[id] = Waiter(after: position, continuation: c, isLongPoll: isLongPoll)
                            return nil
                        }
                        if let resumeNow { c.resume(returning: resumeNow) }
                    }
                } onCancel: {
                    self.cancel(id)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return self.head
            }
            let first = await group.next()!
            group.cancelAll()
            return first
        }
    }

    private func cancel(_ id: UInt64) {
        let c = state.withLock { s in s.waiters.removeValue(forKey: id)?.continuation }
        c?.resume(returning: head)
    }
}
