import EventoCore
import EventoHTTP

/// One way of reaching a function.
protocol FunctionTransport: Sendable {
    /// Sends one request, returns the reply. Throws `FunctionCallError`.
    func call(_ request: [UInt8], timeout: Duration) async throws -> [UInt8]
    /// Stops whatever the transport runs (worker processes) at server shutdown. `callGrace`: how long a
    /// worker in the middle of a call has to finish it after end-of-file before it is signalled (nil: the
    /// transport's own); an idle worker exits at end-of-file.
    func shutdown(callGrace: Duration?) async
    /// The function is gone: stops and removes what it deployed (containers; the same as `shutdown` for
    /// the others). `everySpec`: also what earlier specs of the function deployed.
    func decommission(everySpec: Bool) async
}

extension FunctionTransport {
    func decommission(everySpec: Bool) async { await shutdown() }
    func shutdown() async { await shutdown(callGrace: nil) }
}

/// POSTs the function protocol's JSON to a URL over kept-alive, reused connections.
struct HTTPTransport: FunctionTransport {
    let function: String
    let url: String
    let client: HTTPClient
    /// A longer response body is not read past this size; the call fails (not retried).
    var maxReplyBytes = FunctionRegistry.defaultMaxReplyBytes

    func call(_ request: [UInt8], timeout: Duration) async throws -> [UInt8] {
        let response: HTTPClientResponse
        do {
            response = try await client.execute(
                HTTPClientRequest(
                    method: "POST", url: url, headers: [("Content-Type", "application/json")], body: request, timeout: timeout,
                    maxResponseBytes: maxReplyBytes))
        } catch let e as HTTPClientError {
            throw e.functionCallError(function: function, url: url, timeout: timeout, maxReplyBytes: maxReplyBytes)
        }
        guard (200..<300).contains(response.status) else {
            throw FunctionProtocol.httpFailure(status: response.status, body: response.body, function: function)
        }
        return response.body
    }

    func shutdown(callGrace: Duration?) async {}
}

extension HTTPClientError {
    /// A call to a function over HTTP that got no response, as the pipeline sees it.
    func functionCallError(function: String, url: String, timeout: Duration, maxReplyBytes: Int) -> FunctionCallError {
        switch kind {
        case .timeout:
            FunctionCallError(function: function, message: "timed out after \(timeout) (\(url))", retryable: true, reason: .timeout)
        case .responseTooLarge:
            // The same request would most likely get the same reply: not retried.
            FunctionCallError(
                function: function, message: "reply exceeds \(maxReplyBytes) bytes (\(url))", retryable: false, reason: .replyTooLarge)
        case .connect:
            FunctionCallError(function: function, message: "\(message) (\(url))", retryable: true, reason: .unavailable)
        case .other:
            FunctionCallError(function: function, message: "\(message) (\(url))", retryable: true)
        }
    }
}
