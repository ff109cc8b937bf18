import EventoAvro
import EventoCore
import Testing

/// What the avro-validator libFuzzer target (Tests/Fuzz/AvroValidatorFuzz.swift) found, or its properties showed
/// for inputs made to test them: each of these crashed the validator, hung it, or broke a round trip.
@Suite struct AvroFuzzFindingsTests {
    static let times = #"""
    {"type": "record", "name": "Times", "namespace": "test", "fields": [
      {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}], "default": null},
      {"name": "millis", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}], "default": null},
      {"name": "micros", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}], "default": null},
      {"name": "local", "type": ["null", {"type": "long", "logicalType": "local-timestamp-millis"}], "default": null}
    ]}
    """#

    func normalize(_ json: String, _ schema: String = Self.times) throws -> JSONValue {
        try AvroValidator.normalize(JSONParser.parse(json), as: parseSchema(schema), path: "payload")
    }

    /// Integer dates and timestamps were taken whatever their year and printed as text that does not parse again
    /// (`"287396-10-12T08:59:00.994Z"` for 9007199254740994 ms, `"00-1-12-31"` before year 0), so a stored
    /// payload no longer validated; an offset could carry a time out of the years too.
    @Test(arguments: [
        (#"{"day": 2147483647}"#, "payload.day", "payload.day: expected date within the years 0000–9999, got 2147483647"),
        (#"{"day": -719529}"#, "payload.day", "payload.day: expected date within the years 0000–9999, got -719529"),
        (#"{"millis": 9007199254740994}"#, "payload.millis",
         "payload.millis: expected timestamp-millis within the years 0000–9999, got 9007199254740994"),
        (#"{"micros": -62167219200000001}"#, "payload.micros",
         "payload.micros: expected timestamp-micros within the years 0000–9999, got -62167219200000001"),
        (#"{"millis": "9999-12-31T23:30:00.000-01:00"}"#, "payload.millis",
         #"payload.millis: expected timestamp-millis within the years 0000–9999, got "9999-12-31T23:30:00.000-01:00""#),
        (#"{"millis": "0000-01-01T00:30:00+01:00"}"#, "payload.millis",
         #"payload.millis: expected timestamp-millis within the years 0000–9999, got "0000-01-01T00:30:00+01:00""#),
        (#"{"local": 253402300800000}"#, "payload.local",
         "payload.local: expected local-timestamp-millis within the years 0000–9999, got 253402300800000"),
    ])
    func datesAndTimestampsOutsideTheYearsOfTheirTextAreRefused(_ json: String, _ field: String, _ detail: String) throws {
        let error = try #require(throws: EventoError.self) { try normalize(json) }
        #expect(error.code == .validation)
        #expect(error.field == field)
        #expect(error.message == detail)
    }

    @Test func theFirstAndLastInstantsOfTheYearsValidateAndValidateAgain() throws {
        let first = try normalize(#"{"day": -719528, "millis": -62167219200000, "micros": -62167219200000000, "local": -62167219200000}"#)
        #expect(first == (try JSONParser.parse(#"""
            {"day": "0000-01-01", "millis": "0000-01-01T00:00:00.000Z", "micros": "0000-01-01T00:00:00.000000Z",
             "local": "0000-01-01T00:00:00.000"}
            """#)))
        let last = try normalize(#"{"day": 2932896, "millis": 253402300799999, "micros": "9999-12-31T23:59:59.999999Z", "local": 253402300799999}"#)
        #expect(last == (try JSONParser.parse(#"""
            {"day": "9999-12-31", "millis": "9999-12-31T23:59:59.999Z", "micros": "9999-12-31T23:59:59.999999Z",
             "local": "9999-12-31T23:59:59.999"}
            """#)))
        for value in [first, last] { #expect(try normalize(value.jsonText) == value) }
    }

    /// A recursive record's field with a default filled the default in, whose own field took the default again,
    /// without end: every payload that left the field out overflowed the stack.
    @Test func aRecursiveFieldsDefaultIsRefusedNotFilledInWithoutEnd() throws {
        let schema = #"{"type": "record", "name": "R", "namespace": "test", "fields": [{"name": "r", "type": "R", "default": {}}]}"#
        let error = try #require(throws: EventoError.self) { try normalize("{}", schema) }
        #expect(error.code == .validation)
        #expect(error.message.hasSuffix(
            "the schema's field defaults make a value nested deeper than 128 levels of records, arrays and maps (does a recursive record's field have a default?)"))
    }

    /// Defaults that multiply (a record of two fields of a record of two fields …, each defaulted) were filled in
    /// without bound: 40 levels would have taken 2^40 steps for the payload `{}`.
    @Test func defaultsThatMultiplyAreRefusedAtOnce() throws {
        var schema = #"{"type": "record", "name": "R0", "fields": [{"name": "v", "type": "long", "default": 0}]}"#
        for k in 1...40 {
            schema = #"{"type": "record", "name": "R\#(k)", "fields": [{"name": "a", "type": \#(schema), "default": {}}, {"name": "b", "type": "R\#(k - 1)", "default": {}}]}"#
        }
        let start = ContinuousClock.now
        let error = try #require(throws: EventoError.self) { try normalize("{}", schema) }
        #expect(error.message == "payload: the schema's field defaults make more than 65536 values to fill in")
        #expect(ContinuousClock.now - start < .seconds(2))
        // Defaults that fill in a few values, nested, still do.
        let small = #"{"type": "record", "name": "Outer", "fields": [{"name": "inner", "default": {}, "type": {"type": "record", "name": "Inner", "fields": [{"name": "n", "type": "long", "default": 7}, {"name": "tags", "type": {"type": "array", "items": "string"}, "default": ["a"]}]}}]}"#
        #expect(try normalize("{}", small) == (try JSONParser.parse(#"{"inner": {"n": 7, "tags": ["a"]}}"#)))
    }

    /// A decimal's scale was bounded only by its precision: a scale of 9e18 made the first validation allocate
    /// that many digits, and crash.
    @Test func aDecimalScaleBeyond38IsRefusedWithTheSchema() throws {
        let error = try #require(throws: AvroSchemaError.self) {
            try parseSchema(#"{"type": "bytes", "logicalType": "decimal", "precision": 9000000000000000000, "scale": 9000000000000000000}"#)
        }
        #expect(error.message == "a decimal's scale may be at most 38 (decimals hold 38 digits), not 9000000000000000000")
        let widest = #"{"type": "bytes", "logicalType": "decimal", "precision": 38, "scale": 38}"#
        #expect(try normalize("0", widest) == .string("0." + String(repeating: "0", count: 38)))
    }

    /// A named type without a namespace, inside a record with one, lost its null namespace in the standalone JSON
    /// (what a subject is registered with): parsed again, it took the record's.
    @Test func standaloneJSONKeepsTheNullNamespaceOfANestedType() throws {
        let type = try parseSchema(#"""
            {"type": "record", "name": "R", "namespace": "a", "fields": [
              {"name": "x", "type": {"type": "enum", "name": "E", "namespace": "", "symbols": ["A"]}},
              {"name": "y", "type": {"type": "enum", "name": "F", "symbols": ["B"]}}]}
            """#)
        let standalone = type.standaloneJSON()
        var parser = AvroSchemaParser()
        let again = try parser.parse(standalone)
        #expect(again.canonicalForm == type.canonicalForm)
        #expect(again.canonicalForm.contains(#"{"name":"E","type":"enum""#))
        #expect(again.canonicalForm.contains(#"{"name":"a.F","type":"enum""#))
        // A type that has no namespace and is not inside one is written as before, without one.
        #expect(try parseSchema(#"{"type": "record", "name": "T", "fields": []}"#).standaloneJSON().jsonText == #"{"type":"record","name":"T","fields":[]}"#)
    }
}
