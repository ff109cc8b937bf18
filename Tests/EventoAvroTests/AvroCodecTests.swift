import EventoAvro
import EventoCore
import Testing

func parseSchema(_ text: String) throws -> AvroType {
    var p = AvroSchemaParser()
    return try p.parse(JSONParser.parse(text))
}

@Suite struct AvroCodecTests {
    static let everyType = #"""
    {"type": "record", "name": "Everything", "namespace": "test", "fields": [
      {"name": "n", "type": "null"},
      {"name": "b", "type": "boolean"},
      {"name": "i", "type": "int"},
      {"name": "l", "type": "long"},
      {"name": "f", "type": "float"},
      {"name": "d", "type": "double"},
      {"name": "s", "type": "string"},
      {"name": "by", "type": "bytes"},
      {"name": "e", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}},
      {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
      {"name": "a", "type": {"type": "array", "items": "long"}},
      {"name": "m", "type": {"type": "map", "values": "string"}},
      {"name": "u", "type": ["null", "string", "long"]},
      {"name": "u2", "type": ["null", "Color"]},
      {"name": "r", "type": {"type": "record", "name": "Inner", "fields": [{"name": "x", "type": "int"}]}},
      {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
      {"name": "decf", "type": {"type": "fixed", "name": "Money", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 4}},
      {"name": "uuid", "type": {"type": "string", "logicalType": "uuid"}},
      {"name": "date", "type": {"type": "int", "logicalType": "date"}},
      {"name": "tms", "type": {"type": "int", "logicalType": "time-millis"}},
      {"name": "tus", "type": {"type": "long", "logicalType": "time-micros"}},
      {"name": "tsms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
      {"name": "tsus", "type": {"type": "long", "logicalType": "timestamp-micros"}},
      {"name": "lts", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
      {"name": "withDefault", "type": "string", "default": "hello"},
      {"name": "self", "type": ["null", "Everything"], "default": null}
    ]}
    """#

    @Test func everyTypeRoundTripsThroughJSONBinaryJSON() throws {
        let type = try parseSchema(Self.everyType)
        let input = try JSONParser.parse(#"""
        {"n": null, "b": true, "i": -42, "l": 9007199254740993, "f": 1.5, "d": -0.25, "s": "héllo ☃",
         "by": "\u0000\u00ff\u0010", "e": "GREEN", "fx": "abcd", "a": [1, -2, 3], "m": {"k": "v", "k2": ""},
         "u": 17, "u2": "RED", "r": {"x": 7}, "dec": "-123.45", "decf": 99.5,
         "uuid": "6F9619FF-8B86-D011-B42D-00C04FC964FF", "date": "2026-11-28", "tms": "04:12:25.123",
         "tus": "23:59:59.999999", "tsms": "2026-11-28T05:12:25.123+01:00", "tsus": 1795839145123456,
         "lts": "2026-11-28T04:12:25.123",
         "self": {"n": null, "b": false, "i": 0, "l": 0, "f": 0, "d": 0, "s": "", "by": "", "e": "RED", "fx": "\u0001\u0002\u0003\u0004",
                  "a": [], "m": {}, "u": null, "u2": null, "r": {"x": 0}, "dec": 0, "decf": "0.0001", "uuid": "00000000-0000-0000-0000-000000000000",
                  "date": 0, "tms": 0, "tus": 0, "tsms": 0, "tsus": 0, "lts": 0}}
        """#)
        let normalized = try AvroValidator.normalize(input, as: type, path: "payload")
        // Normalised: defaults filled, logical types in their canonical text.
        #expect(normalized["withDefault"] == "hello")
        #expect(normalized["decf"] == "99.5000")
        #expect(normalized["uuid"] == "6f9619ff-8b86-d011-b42d-00c04fc964ff")
        #expect(normalized["tsms"] == "2026-11-28T04:12:25.123Z")
        #expect(normalized["tsus"] == "2026-11-28T04:12:25.123456Z")
        #expect(normalized["f"] == .double(1.5))
        #expect(normalized["self"]?["date"] == "1970-01-01")
        #expect(normalized["self"]?["tms"] == "00:00:00.000")
        let codec = try AvroBinaryCodec(type)
        let binary = try codec.encode(normalized)
        let back = try codec.decode(binary)
        #expect(back == normalized)
        #expect(back.jsonText == normalized.jsonText, "field order is the schema's")
    }

    @Test func theBinaryIsStandardAvro() throws {
        // {"a": 1 (long), "b": "hi"}: zigzag 1 = 0x02, string length 2 = 0x04, "hi".
        let type = try parseSchema(#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"},{"name":"b","type":"string"}]}"#)
        let codec = try AvroBinaryCodec(type)
        #expect(try codec.encode(["a": 1, "b": "hi"]) == [0x02, 0x04, 0x68, 0x69])
        let union = try parseSchema(#"["null","long"]"#)
        #expect(try AvroBinaryCodec(union).encode(.int(-1)) == [0x02, 0x01])
    }

    @Test func canonicalFormAndFingerprintFollowTheSpecification() throws {
        let type = try parseSchema(#"{"type":"record","name":"R","namespace":"ns","doc":"x","fields":[{"name":"a","type":{"type":"long","logicalType":"timestamp-millis"},"default":0}]}"#)
        #expect(type.canonicalForm == #"{"name":"ns.R","type":"record","fields":[{"name":"a","type":"long"}]}"#)
        // Values from the Avro specification's test vectors for CRC-64-AVRO.
        #expect(try parseSchema(#""int""#).fingerprint == 0x7275_d51a_3f39_5c8f)
        #expect(try parseSchema(#""null""#).fingerprint == 0x63dd_24e7_cc25_8f8a)
    }

    struct Invalid: CustomTestStringConvertible, Sendable {
        var payload: String
        var message: String
        var testDescription: String { message }
    }

    static let invalid: [Invalid] = [
        Invalid(payload: #"{"amount": "ten"}"#, message: #"payload.amount: expected double, got "ten""#),
        Invalid(payload: #"{"amout": 10, "amount": 1}"#, message: #"payload: unknown field "amout""#),
        Invalid(payload: #"{}"#, message: "payload.amount: is required (a double)"),
        Invalid(payload: #"{"amount": 1, "currency": "XYZ"}"#, message: "payload.currency: expected one of EUR, USD, got \"XYZ\""),
        Invalid(payload: #"{"amount": 1, "tags": ["a", 2]}"#, message: "payload.tags[1]: expected string, got 2"),
        Invalid(payload: #"{"amount": 1, "note": 5}"#, message: "payload.note: expected string, got 5"),
        Invalid(payload: #"{"amount": 1, "count": 3000000000}"#, message: "payload.count: expected int, got 3000000000, which is outside the 32-bit range"),
        Invalid(payload: #"{"amount": 1, "on": "2026-02-30"}"#, message: #"payload.on: expected date (YYYY-MM-DD), got "2026-02-30""#),
        Invalid(payload: #"{"amount": 1, "price": "1.234"}"#, message: #"payload.price: expected decimal(6,2): at most 6 digits, 2 after the point, got "1.234""#),
        Invalid(payload: #"{"amount": 1, "at": "2026-11-28T04:12:25.1234Z"}"#, message: #"payload.at: "2026-11-28T04:12:25.1234Z" is more precise than timestamp-millis"#),
    ]

    @Test(arguments: invalid)
    func validationErrorsNameThePathAndTheExpectation(_ c: Invalid) throws {
        let type = try parseSchema(#"""
        {"type": "record", "name": "Deposit", "fields": [
          {"name": "amount", "type": "double"},
          {"name": "currency", "type": {"type": "enum", "name": "Currency", "symbols": ["EUR", "USD"]}, "default": "EUR"},
          {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
          {"name": "note", "type": ["null", "string"], "default": null},
          {"name": "count", "type": "int", "default": 0},
          {"name": "on", "type": ["null", {"type": "int", "logicalType": "date"}], "default": null},
          {"name": "price", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2}], "default": null},
          {"name": "at", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}], "default": null}
        ]}
        """#)
        #expect(throws: EventoError.self) { try AvroValidator.normalize(JSONParser.parse(c.payload), as: type, path: "payload") }
        do {
            _ = try AvroValidator.normalize(try JSONParser.parse(c.payload), as: type, path: "payload")
        } catch let e as EventoError {
            #expect(e.message == c.message)
        }
    }

    @Test func unionsTakeTheBareValueOrAvrosWrappedForm() throws {
        let type = try parseSchema(#"["null", "int", "string", {"type": "record", "name": "P", "fields": [{"name": "x", "type": "long"}]}]"#)
        #expect(try AvroValidator.normalize(.int(3), as: type, path: "v") == .int(3))
        #expect(try AvroValidator.normalize(["x": 1], as: type, path: "v") == ["x": 1])
        #expect(try AvroValidator.normalize(["string": "s"], as: type, path: "v") == "s")
        let codec = try AvroBinaryCodec(type)
        #expect(try codec.decode(codec.encode(["x": 5])) == ["x": 5])
        #expect(try codec.decode(codec.encode("s")) == "s")
    }

    @Test func badSchemasAreRefusedWithTheirPlace() {
        #expect(throws: AvroSchemaError.self) { try parseSchema(#"{"type":"record","name":"R","fields":[{"name":"a","type":"Nope"}]}"#) }
        do {
            _ = try parseSchema(#"{"type":"record","name":"R","fields":[{"name":"a","type":"long","default":"x"}]}"#)
        } catch {
            #expect("\(error)" == #"R.fields[0]: the default "x" of field a is not a long"#)
        }
    }
}
