// libFuzzer target: the JSON parser every request body and function reply goes through.
// Built by scripts/fuzz.sh together with Sources/EventoJSON (one module, no dependencies).
//
// Properties: parsing never crashes, whatever the bytes (deep nesting, huge numbers, bad UTF-8); what parses
// prints back to JSON that parses to the same value (the writer and the parser agree).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONParser(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    guard let value = try? JSONParser.parse(bytes) else { return 0 }
    let printed = value.jsonText
    guard let again = try? JSONParser.parse(printed) else {
        fatalError("printed JSON does not parse again: \(printed.prefix(200))")
    }
    guard again == value else { fatalError("a round trip changed the value: \(printed.prefix(200))") }
    return 0
}
