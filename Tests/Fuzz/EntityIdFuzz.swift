// libFuzzer target: entity ids (`AGGREGATE:ID`), parsed from every event, command and route that names one.
// Built by scripts/fuzz.sh together with Sources/EventoCore/Model/EntityId.swift.
//
// Properties: parsing never crashes; an accepted id keeps its text, splits at its first ':', and parses
// again to the same id.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEntityId(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    guard let id = try? EntityId(parsing: text) else { return 0 }
    guard id.rawValue == text, id.aggregate + ":" + id.id == text, !id.aggregate.contains(":") else {
        fatalError("entity id \(text.debugDescription) parsed as \(id.aggregate) + \(id.id)")
    }
    guard (try? EntityId(parsing: id.rawValue)) == id else { fatalError("entity id \(text.debugDescription) does not parse again") }
    return 0
}
