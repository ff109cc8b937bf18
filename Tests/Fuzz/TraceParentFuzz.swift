// libFuzzer target: W3C `traceparent` values, read from every request header, event and command that carries one.
// Built by scripts/fuzz.sh together with Sources/EventoCore/Support/Identifiers.swift (and Timestamp.swift, which
// it uses) and swift-w3c-trace-context's sources, which parse the header.
//
// Properties: parsing never crashes; anything with an uppercase hex digit is refused; what parses is 55
// lowercase characters of version 00 with non-zero ids, is its own text, and parses again to the same; a child
// keeps the trace id and flags.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTraceParent(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    guard let t = TraceParent(text) else { return 0 }
    let printed = t.description
    guard !text.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x46 }) else { fatalError("traceparent \(text.debugDescription) has uppercase hex but parsed") }
    let u = Array(printed.utf8)
    let isLowerHex = { (c: UInt8) in (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) }
    guard u.count == 55, printed.hasPrefix("00-"), u[35] == UInt8(ascii: "-"), u[52] == UInt8(ascii: "-"),
        u.indices.allSatisfy({ [2, 35, 52].contains($0) || isLowerHex(u[$0]) })
    else { fatalError("traceparent \(text.debugDescription) prints as \(printed.debugDescription)") }
    guard printed == text else { fatalError("traceparent \(text.debugDescription) prints as another text, \(printed.debugDescription)") }
    guard t.traceId == String(printed.dropFirst(3).prefix(32)), t.parentId == String(printed.dropFirst(36).prefix(16)),
        t.flags == String(printed.suffix(2)), t.traceId.contains(where: { $0 != "0" }), t.parentId.contains(where: { $0 != "0" })
    else { fatalError("traceparent \(text.debugDescription) splits as \(t.traceId) \(t.parentId) \(t.flags)") }
    guard let again = TraceParent(printed), again == t, again.description == printed else {
        fatalError("traceparent \(printed.debugDescription) does not parse again to itself")
    }
    let child = t.child()
    guard child.traceId == t.traceId, child.flags == t.flags, TraceParent(child.description) == child else {
        fatalError("the child \(child) of traceparent \(printed) is not of its trace")
    }
    return 0
}
