import EventoCore
import Testing

@Suite struct FunctionCallErrorTests {
    @Test func aTimeoutIsKnownByItsReasonNotByItsMessage() {
        // A function's own words that happen to start like a timeout are not one.
        #expect(!FunctionCallError(function: "f", message: "timed out waiting for the ledger", retryable: true).isTimeout)
        #expect(!FunctionCallError(function: "f", message: "no reply within 10s: no healthy replica", retryable: true).isTimeout)
        #expect(!FunctionCallError(function: "f", message: "no healthy replica", retryable: true, reason: .unavailable).isTimeout)
        #expect(FunctionCallError(function: "f", message: "the worker did not answer", retryable: true, reason: .timeout).isTimeout)
    }
}
