import EventoAvro
import EventoCore
import Testing

/// The number rule: int and long take JSON integer literals only; float and double take any JSON number
/// that their type can hold without becoming infinite or, when it is not 0, without becoming 0.
@Suite struct AvroNumberTests {
    static let schema = #"""
    {"type": "record", "name": "Numbers", "namespace": "test", "fields": [
      {"name": "i", "type": "int", "default": 0},
      {"name": "l", "type": "long", "default": 0},
      {"name": "f", "type": "float", "default": 0},
      {"name": "d", "type": "double", "default": 0},
      {"name": "ol", "type": ["null", "long"], "default": null}
    ]}
    """#

    func normalize(_ json: String) throws -> JSONValue {
        try AvroValidator.normalize(JSONParser.parse(json), as: parseSchema(Self.schema), path: "payload")
    }

    @Test(arguments: [
        (#"{"l": 100e-2}"#, "payload.l", "payload.l: expected long (an integer literal, without fraction or exponent), got 1.0"),
        (#"{"l": 1.0}"#, "payload.l", "payload.l: expected long (an integer literal, without fraction or exponent), got 1.0"),
        (#"{"l": 1e3}"#, "payload.l", "payload.l: expected long (an integer literal, without fraction or exponent), got 1000.0"),
        (#"{"l": 0.5}"#, "payload.l", "payload.l: expected long, got 0.5"),
        (#"{"l": 9223372036854775808}"#, "payload.l",
         "payload.l: expected long, got 9.223372036854776e+18, which is outside the 64-bit range"),
        (#"{"i": 2.0}"#, "payload.i", "payload.i: expected int (an integer literal, without fraction or exponent), got 2.0"),
        (#"{"i": 2147483648}"#, "payload.i", "payload.i: expected int, got 2147483648, which is outside the 32-bit range"),
        (#"{"ol": 3.0}"#, "payload.ol", "payload.ol: expected long (an integer literal, without fraction or exponent), got 3.0"),
        (#"{"f": 1e39}"#, "payload.f", "payload.f: 1e+39 is too large for a 32-bit float (it overflows to infinity)"),
        (#"{"f": -1e-50}"#, "payload.f", "payload.f: -1e-50 is too small for a 32-bit float (it underflows to 0)"),
    ])
    func numbersTheFieldCannotHoldExactlyAreRefusedNamingTheField(_ json: String, _ field: String, _ detail: String) throws {
        let error = try #require(throws: EventoError.self) { try normalize(json) }
        #expect(error.code == .validation)
        #expect(error.field == field)
        #expect(error.message == detail)
    }

    @Test func integerLiteralsAndRepresentableNumbersAreAccepted() throws {
        let v = try normalize(#"{"i": -2147483648, "l": 9223372036854775807, "f": 1.5, "d": 1e-320, "ol": 7}"#)
        #expect(v["i"] == .int(-2_147_483_648))
        #expect(v["l"] == .int(Int64.max))
        #expect(v["f"] == .double(1.5))
        #expect(v["d"] == .double(Double("1e-320")!))
        #expect(v["ol"] == .int(7))
        // An integer literal is a fine double or float.
        let w = try normalize(#"{"f": 3, "d": -4}"#)
        #expect(w["f"] == .double(3))
        #expect(w["d"] == .double(-4))
        // A double that is not a long picks the double branch of a union, as before.
        let union = try AvroValidator.normalize(JSONParser.parse("2.5"), as: parseSchema(#"["null", "long", "double"]"#), path: "x")
        #expect(union == .double(2.5))
    }
}
