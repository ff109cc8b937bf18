import EventoCore
import Testing

/// Replies as functions write them, decoded (the function-reply libFuzzer target, Tests/Fuzz/FunctionReplyFuzz.swift,
/// checks the same properties on any bytes).
@Suite struct FunctionReplyTests {
    func handled(_ json: String) throws -> FunctionProtocol.Handled {
        try FunctionProtocol.parseHandled(Array(json.utf8), function: "checking")
    }

    /// A folding handler whose state after the events is null (what the Swift runtime writes when the aggregator
    /// returns nil) answered `"state": null`; that decoded as a reply without a state, so the server took the
    /// handler for one that does not fold, asked it no more, and paid a second round trip per command after.
    @Test func aHandlersNullStateIsANullStateNotAMissingOne() throws {
        let events = #""events": [{"type": "AccountClosed", "payload": {"balance": 0}}]"#
        #expect(try handled("{\(events), \"state\": null}").state == .null)
        #expect(try handled("{\(events)}").state == nil)
        #expect(try handled("{\(events), \"state\": {\"balance\": 0}}").state == ["balance": 0])
        let error = try #require(throws: FunctionCallError.self) { try handled("{\(events), \"state\": 5}") }
        #expect(error.message == "invalid reply: state: expected object or null, got integer")
        #expect(error.function == "checking")
    }
}
