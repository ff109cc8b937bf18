// libFuzzer target: Avro schemas and the validator of the natural JSON form, which every event, command and
// state payload goes through before it is stored (`AvroSchemaParser`, `AvroValidator.normalize`).
// Built by scripts/fuzz.sh together with EventoAvro's pure-Swift schema, validator and logical-value sources,
// Sources/EventoJSON and the two EventoCore files they use (no Avro C).
//
// Input: with a 0 byte in it, the JSON before the first 0 byte is the schema and the JSON after it the value;
// without, the first byte picks one of the schemas below ("0" the first) and the rest is the value.
//
// Properties: parsing a schema and validating a value never crash, whatever the bytes; a schema's standalone
// JSON parses to the same schema (the same canonical form); validation is deterministic (the same value twice
// gives the same value or the same error); a value accepted once, printed as JSON text and parsed again, is
// accepted again and normalizes to itself.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAvroValidator(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    let type: AvroType
    let valueBytes: ArraySlice<UInt8>
    // A recursive record is a reference cycle, by design (AvroNamed is a class so that a record can refer to
    // itself; schemas live as long as the server): the named types each input's schema defines are emptied
    // when done, so that LeakSanitizer reports other leaks only.
    var parser = AvroSchemaParser()
    var reparser = AvroSchemaParser()
    defer { for n in Array(parser.names.values) + Array(reparser.names.values) { n.kind = .fixed(size: 0) } }
    if let zero = bytes.firstIndex(of: 0) {
        guard let json = try? JSONParser.parse(Array(bytes[..<zero])) else { return 0 }
        guard let parsed = try? parser.parse(json) else { return 0 }
        type = parsed
        valueBytes = bytes[(zero + 1)...]
        let standalone = type.standaloneJSON()
        guard let reparsed = try? reparser.parse(standalone), reparsed.canonicalForm == type.canonicalForm else {
            fatalError("the schema's standalone JSON \(standalone.jsonText.prefix(300)) does not parse to the same schema")
        }
    } else {
        // Parsed for each input, not kept in a static: LeakSanitizer reports what a static holds through
        // Swift's indirect enum payloads as leaked at exit.
        guard let first = bytes.first else { return 0 }
        let text = AvroValidatorFuzz.schemas[Int(first &- UInt8(ascii: "0")) % AvroValidatorFuzz.schemas.count]
        do { type = try parser.parse(JSONParser.parse(text)) } catch { fatalError("fuzz schema does not parse: \(error)") }
        valueBytes = bytes.dropFirst()
    }
    guard let value = try? JSONParser.parse(Array(valueBytes)) else { return 0 }

    let first = AvroValidatorFuzz.validate(value, type)
    let second = AvroValidatorFuzz.validate(value, type)
    guard first == second else { fatalError("validating the same value twice gave \(first) and \(second)") }
    guard case .accepted(let normalized) = first else { return 0 }
    let text = normalized.jsonText
    guard let parsed = try? JSONParser.parse(text) else { fatalError("the normalized value does not parse: \(text.prefix(300))") }
    switch AvroValidatorFuzz.validate(parsed, type) {
    case .accepted(let again) where again == normalized: break
    case let other: fatalError("the normalized value \(text.prefix(300)) validates again as \(other)")
    }
    return 0
}

enum AvroValidatorFuzz {
    enum Outcome: Equatable {
        case accepted(JSONValue)
        case refused(message: String, field: String?)
    }

    static func validate(_ value: JSONValue, _ type: AvroType) -> Outcome {
        do { return .accepted(try AvroValidator.normalize(value, as: type, path: "payload")) } catch {
            guard error.code == .validation else { fatalError("validation threw \(error.code): \(error.message)") }
            return .refused(message: error.message, field: error.field)
        }
    }

    /// Schemas like the ones aggregates register: records with defaults, enums, fixed, arrays, maps, unions,
    /// every logical type, and a recursive record.
    static let schemas: [String] = [
        #"""
        {"type": "record", "name": "CashDeposited", "namespace": "checking", "evento": "event", "fields": [
          {"name": "amount", "type": "long"}, {"name": "balance", "type": "long"},
          {"name": "status", "type": {"type": "enum", "name": "AccountStatus", "symbols": ["OPEN", "CLOSED"], "default": "OPEN"}},
          {"name": "overdraftLimit", "type": "int", "default": 0},
          {"name": "transfer", "type": ["null", "string"], "default": null}]}
        """#,
        #"""
        {"type": "record", "name": "Recorded", "namespace": "interop", "fields": [
          {"name": "flag", "type": "boolean"}, {"name": "small", "type": "int"}, {"name": "big", "type": "long"},
          {"name": "ratio", "type": "float"}, {"name": "precise", "type": "double"}, {"name": "text", "type": "string"},
          {"name": "raw", "type": "bytes"},
          {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["SMALL", "LARGE"]}},
          {"name": "tag", "type": {"type": "fixed", "name": "Tag", "size": 3}},
          {"name": "lines", "type": {"type": "array", "items": {"type": "record", "name": "Line", "fields": [
            {"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
          {"name": "attributes", "type": {"type": "map", "values": "long"}},
          {"name": "maybe", "type": ["null", "string"], "default": null},
          {"name": "withDefault", "type": "string", "default": "filled"}]}
        """#,
        #"""
        {"type": "record", "name": "Node", "namespace": "test", "fields": [
          {"name": "next", "type": ["null", "Node"], "default": null}, {"name": "n", "type": "long", "default": 0}]}
        """#,
        #"""
        {"type": "record", "name": "Times", "namespace": "test", "fields": [
          {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
          {"name": "amount", "type": {"type": "fixed", "name": "Amount", "size": 4, "logicalType": "decimal", "precision": 9, "scale": 3}},
          {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}},
          {"name": "day", "type": {"type": "int", "logicalType": "date"}},
          {"name": "atMillis", "type": {"type": "long", "logicalType": "timestamp-millis"}},
          {"name": "atMicros", "type": {"type": "long", "logicalType": "timestamp-micros"}},
          {"name": "localMillis", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
          {"name": "localMicros", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
          {"name": "timeMillis", "type": {"type": "int", "logicalType": "time-millis"}},
          {"name": "timeMicros", "type": {"type": "long", "logicalType": "time-micros"}}]}
        """#,
        #"""
        ["null", "long", "double", "string", {"type": "int", "logicalType": "date"},
         {"type": "map", "values": ["null", "boolean", "float", {"type": "long", "logicalType": "timestamp-millis"}]},
         {"type": "array", "items": ["int", "string"]},
         {"type": "record", "name": "Pair", "fields": [{"name": "a", "type": "int"}, {"name": "b", "type": ["string", "null"], "default": "x"}]}]
        """#,
    ]
}
