import CoreMetrics
import DequeModule
import EventoCore
import Synchronization

/// Sends concurrent calls to one function as batch requests, for functions that accept the batch form:
///
///     {"kind":"batch","requests":[r1, r2, …]}  →  {"replies":[reply1, reply2, …]}
///
/// No call waits for a batch to fill: at most `slots` requests (or batches) are in flight, and calls that
/// arrive while all slots are busy queue up; whoever frees a slot hands it to the first queued call, which
/// sends everything queued then (up to `maxBatch`) in one request. Under light load every call goes alone;
/// under heavy load the batches grow by themselves.
final class BatchingTransport: FunctionTransport, Sendable {
    private enum Wake {
        case reply([UInt8])
        case failure(any Error)
        /// The slot is yours: send the queue.
        case lead
    }

    private struct Waiting {
        let request: [UInt8]
        let continuation: CheckedContinuation<Wake, Never>
    }

    private struct State {
        var freeSlots: Int
        var queue = Deque<Waiting>()
    }

    let inner: any FunctionTransport
    let function: String
    let maxBatch: Int
    private let state: Mutex<State>
    private let batches: Counter
    private let batchSize: Recorder

    init(inner: any FunctionTransport, function: String, maxBatch: Int, slots: Int) {
        self.inner = inner
        self.function = function
        self.maxBatch = maxBatch
        state = Mutex(State(freeSlots: max(1, slots)))
        batches = Counter(label: "evento_function_batches_total", dimensions: [("function", function)])
        batchSize = Recorder(label: "evento_function_batch_size", dimensions: [("function", function)], aggregate: true)
    }

    func call(_ request: [UInt8], timeout: Duration) async throws -> [UInt8] {
        let lead = state.withLock { s -> Bool in
            guard s.freeSlots > 0 else { return false }
            s.freeSlots -= 1
            return true
        }
        if !lead {
            let wake = await withCheckedContinuation { (c: CheckedContinuation<Wake, Never>) in
                let queued = state.withLock { s -> Bool in
                    // A slot may have come free since: take it instead of queueing.
                    if s.freeSlots > 0 {
                        s.freeSlots -= 1
                        return false
                    }
                    s.queue.append(Waiting(request: request, continuation: c))
                    return true
                }
                if !queued { c.resume(returning: .lead) }
            }
            switch wake {
            case .reply(let r): return r
            case .failure(let e): throw e
            case .lead: break
            }
        }
        // Leading: send our request with whatever is queued behind us.
        let others = state.withLock { s -> [Waiting] in
            var taken: [Waiting] = []
            while taken.count < maxBatch - 1, let w = s.queue.popFirst() { taken.append(w) }
            return taken
        }
        defer { handOn() }
        if others.isEmpty { return try await inner.call(request, timeout: timeout) }
        let results = await send([request] + others.map(\.request), timeout: timeout)
        for (w, r) in zip(others, results.dropFirst()) {
            switch r {
            case .success(let reply): w.continuation.resume(returning: .reply(reply))
            case .failure(let error): w.continuation.resume(returning: .failure(error))
            }
        }
        return try results[0].get()
    }

    /// The slot goes to the first queued call, or back to the pool.
    private func handOn() {
        let next = state.withLock { s -> Waiting? in
            if let w = s.queue.popFirst() { return w }
            s.freeSlots += 1
            return nil
        }
        next?.continuation.resume(returning: .lead)
    }

    /// One result per request. A batch whose reply is too large as a whole is sent again one request at a
    /// time: the cap is for one reply, and a batch of many small ones must not fail them all.
    private func send(_ requests: [[UInt8]], timeout: Duration) async -> [Result<[UInt8], any Error>] {
        do {
            return try await sendBatch(requests, timeout: timeout).map { .success($0) }
        } catch let e as FunctionCallError where e.reason == .replyTooLarge {
            return await withTaskGroup(of: (Int, Result<[UInt8], any Error>).self) { group in
                for (i, r) in requests.enumerated() {
                    group.addTask {
                        do { return (i, .success(try await self.inner.call(r, timeout: timeout))) } catch { return (i, .failure(error)) }
                    }
                }
                var results = [Result<[UInt8], any Error>](repeating: .failure(e), count: requests.count)
                for await (i, r) in group { results[i] = r }
                return results
            }
        } catch {
            return Array(repeating: .failure(error), count: requests.count)
        }
    }

    private func sendBatch(_ requests: [[UInt8]], timeout: Duration) async throws -> [[UInt8]] {
        batches.increment()
        batchSize.record(requests.count)
        var body: [UInt8] = []
        body.reserveCapacity(requests.reduce(32) { $0 + $1.count + 1 })
        body += Array(#"{"kind":"batch","requests":["#.utf8)
        for (i, r) in requests.enumerated() {
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body += r
        }
        body += Array("]}".utf8)
        let reply = try await inner.call(body, timeout: timeout)
        let value: JSONValue
        do { value = try JSONParser.parse(reply) } catch {
            throw FunctionCallError(function: function, message: "batch reply is not JSON (\(error))", retryable: true)
        }
        if let failure = FunctionProtocol.failure(value, function: function) { throw failure }
        guard let items = value["replies"]?.arrayValue, items.count == requests.count else {
            throw FunctionCallError(
                function: function, message: "batch reply needs \"replies\" with \(requests.count) items", retryable: true)
        }
        return items.map { var w = JSONWriter(); w.value($0); return w.bytes }
    }

    func decommission(everySpec: Bool) async { await inner.decommission(everySpec: everySpec) }

    func shutdown(callGrace: Duration?) async { await inner.shutdown(callGrace: callGrace) }
}
