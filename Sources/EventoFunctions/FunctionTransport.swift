import EventoCore
import EventoHTTP

/// One way of reaching a function.
protocol FunctionTransport: Sendable {
    /// Sends one request, returns the reply. Throws `FunctionCallError`.
    func call(_ request: [UInt8], timeout: Duration) async throws -> [UInt8]
    /// Stops whatever the transport runs (worker processes) at server shutdown.
    func shutdown() async
    /// The function is gone: stops and removes what it deployed (containers; the same as `shutdown` for
    /// the others). `everySpec`: also what earlier specs of the function deployed.
    func decommission(everySpec: Bool) async
}

extension FunctionTransport {
    func decommission(everySpec: Bool) async { await shutdown() }
}

/// POSTs the function protocol's JSON to a URL over kept-alive, reused connections.
struct HTTPTransport: FunctionTransport {
    let function: String
    let url: String
    let client: HTTPClient

    func call(_ request: [UInt8], timeout: Duration) async throws -> [UInt8] {
        let response: HTTPClientResponse
        do {
            response = try await client.execute(
                HTTPClientRequest(method: "POST", url: url, headers: [("Content-Type", "application/json")], body: request, timeout: timeout))
        } catch let e as HTTPClientError {
            let what = e.kind == .timeout ? "timed out after \(timeout)" : e.message
            throw FunctionCallError(function: function, message: "\(what) (\(url))", retryable: true)
        }
        switch response.status {
        case 200..<300:
            return response.body
        case 400..<500:
            // A 4xx will not get better by retrying; keep the function's own error message when it gave one.
            let message = (try? JSONParser.parse(response.body))?["error"]?["message"]?.stringValue ?? response.bodyText.prefix(300).description
            throw FunctionCallError(function: function, message: "HTTP \(response.status): \(message)", retryable: false)
        default:
            throw FunctionCallError(
                function: function, message: "HTTP \(response.status): \(response.bodyText.prefix(300))", retryable: true)
        }
    }

    func shutdown() async {}
}
