import EventoCore
import Testing

/// What the parser refuses rather than guess at or crash on: nesting deeper than its limit, and numbers
/// no 64-bit double can hold.
@Suite struct JSONLimitsTests {
    @Test func aMillionOpenBracketsIsAnErrorThatSaysHowDeepIsAllowed() throws {
        let text = String(repeating: "[", count: 1_000_000)
        let error = try #require(throws: JSONParseError.self) { try JSONParser.parse(text) }
        #expect(error.reason == .tooDeep)
        #expect(error.message == "nesting deeper than \(JSONParser.maxDepth) levels")
        #expect(error.column == JSONParser.maxDepth + 1)
    }

    @Test func nestingUpToTheLimitParsesAndOneMoreLevelDoesNot() throws {
        #expect(JSONParser.maxDepth == 512)
        let deepest = String(repeating: #"{"a":["#, count: JSONParser.maxDepth / 2) + "1" + String(repeating: "]}", count: JSONParser.maxDepth / 2)
        let v = try JSONParser.parse(deepest)
        #expect(v.jsonText == deepest)
        let tooDeep = "[" + deepest + "]"
        #expect(throws: JSONParseError.self) { try JSONParser.parse(tooDeep) }
    }

    @Test(arguments: [
        (#"{"payload":{"amount":1e999}}"#, "payload.amount", "number 1e999 is too large for a 64-bit double (it overflows to infinity)"),
        (#"{"payload":{"amount":-1e400}}"#, "payload.amount", "number -1e400 is too large for a 64-bit double (it overflows to infinity)"),
        (#"{"events":[{},{"payload":{"x":1e-99999999}}]}"#, "events[1].payload.x",
         "number 1e-99999999 is too small for a 64-bit double (it underflows to 0)"),
        (#"[[0.0000001e-400]]"#, "[0][0]", "number 0.0000001e-400 is too small for a 64-bit double (it underflows to 0)"),
        ("1" + String(repeating: "0", count: 400), "",
         "number 1\(String(repeating: "0", count: 39))… is too large for a 64-bit double (it overflows to infinity)"),
    ])
    func numbersOutOfADoublesRangeAreErrorsThatNameTheirPath(_ text: String, _ path: String, _ message: String) throws {
        let error = try #require(throws: JSONParseError.self) { try JSONParser.parse(text) }
        #expect(error.reason == .numberOutOfRange)
        #expect(error.path == path)
        #expect(error.message == message)
    }

    @Test func zeroInAnyFormAndSubnormalNumbersAreKept() throws {
        #expect(try JSONParser.parse("0e-99999999") == .double(0))
        #expect(try JSONParser.parse("-0.000e5") == .double(0))
        #expect(try JSONParser.parse("5e-324") == .double(.leastNonzeroMagnitude))
        #expect(try JSONParser.parse("1.7976931348623157e308") == .double(.greatestFiniteMagnitude))
        #expect(try JSONParser.parse("100e-2") == .double(1))
        #expect(try JSONParser.parse("12") == .int(12))
    }

    @Test func syntaxErrorsKeepTheirDescriptionAndCarryThePath() throws {
        let error = try #require(throws: JSONParseError.self) { try JSONParser.parse(#"{"a":[1,{"b":tru}]}"#) }
        #expect(error.reason == .syntax)
        #expect(error.path == "a[1].b")
        #expect(error.description == "invalid literal, expected true at line 1, column 14")
    }
}
