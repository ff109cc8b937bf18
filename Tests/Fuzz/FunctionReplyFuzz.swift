// libFuzzer target: the decoders of function replies (`FunctionProtocol.parseHandled`, `parseEvents`,
// `parseState`, `parseCommands`, through `reply` and `failure`; `httpFailure`), which read whatever a user's
// function writes back. Built by scripts/fuzz.sh together with Sources/EventoJSON, the EventoCore files
// FunctionProtocol.swift needs and swift-w3c-trace-context's sources (SubmissionParser.swift, which reads a
// command's notBefore/delayMs, pulls in the cause fields and so TraceParent).
//
// Properties: no bytes make a decoder crash or trap: every failure is a thrown FunctionCallError of the function
// that was called; decoding is deterministic (twice, the same result or the same error); a reply
// `{"error": …}` fails every decoder with the function's own message and retryable flag; a handler's
// "state" decodes as what it is (absent: nil, null: null, an object: itself); what decodes, written back as a
// reply, decodes to the same.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFunctionReply(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: count))
    let json = try? JSONParser.parse(bytes)
    let own = json.flatMap { FunctionProtocol.failure($0, function: "f") }

    let handled = ReplyDecoding(bytes, FunctionProtocol.parseHandled)
    let events = ReplyDecoding(bytes, FunctionProtocol.parseEvents)
    let state = ReplyDecoding(bytes, FunctionProtocol.parseState)
    let commands = ReplyDecoding(bytes, FunctionProtocol.parseCommands)
    handled.expectDeterministic(bytes, FunctionProtocol.parseHandled, same: sameHandled)
    events.expectDeterministic(bytes, FunctionProtocol.parseEvents, same: ==)
    state.expectDeterministic(bytes, FunctionProtocol.parseState, same: ==)
    commands.expectDeterministic(bytes, FunctionProtocol.parseCommands, same: sameCommands)

    if let own, case .object = json {
        for failure in [handled.failure, events.failure, state.failure, commands.failure] {
            guard let failure, failure.message == own.message, failure.retryable == own.retryable else {
                fatalError("the reply's own error \(own) is not what a decoder throws: \(String(describing: failure))")
            }
        }
    }
    switch (handled.result, events.result) {
    case (.success(let h), .success(let e)) where h.events == e: break
    case (.failure(let a), .failure(let b)) where sameError(a, b): break
    default: fatalError("parseEvents and parseHandled disagree: \(events.result) \(handled.result)")
    }

    if case .success(let h) = handled.result {
        guard h.state == json?["state"], h.events.allSatisfy({ Names.isAvroName($0.type) && $0.payload.objectValue != nil }) else {
            fatalError("a handler's reply decodes to state \(String(describing: h.state)), events \(h.events)")
        }
        var w = JSONWriter()
        w.object { o in
            o.array("events", h.events) { w, e in
                w.object { o in
                    o.field("type", e.type)
                    o.field("payload", value: e.payload)
                }
            }
            if let s = h.state { o.field("state", value: s) }
        }
        guard let again = try? FunctionProtocol.parseHandled(w.bytes, function: "f"), sameHandled(again, h) else {
            fatalError("a handler's reply, decoded and written again, decodes to something else: \(w.string.prefix(300))")
        }
    }
    if case .success(let s) = state.result {
        guard s == json?["state"].flatMap({ $0.isNull ? nil : $0 }), s?.objectValue != nil || s == nil else {
            fatalError("an aggregator's reply decodes to state \(String(describing: s))")
        }
    }
    // Every notBefore is within years 0001–9999 as an instant (Timestamp(rfc3339:) refuses an offset that
    // carries it past), so every dispatcher reply is written back.
    if case .success(let cs) = commands.result {
        for c in cs {
            guard let t = c.notBefore else { continue }
            guard t.millisecondsSinceEpoch <= 253_402_300_799_999, t.millisecondsSinceEpoch >= -62_135_596_800_000 else {
                fatalError("a notBefore outside years 0001–9999 was accepted: \(t.millisecondsSinceEpoch)")
            }
        }
        var w = JSONWriter()
        w.object { o in
            o.array("commands", cs) { w, c in
                w.object { o in
                    o.field("entity", c.entity.rawValue)
                    o.field("type", c.type)
                    o.field("payload", value: c.payload)
                    o.field("notBefore", c.notBefore?.description)
                }
            }
        }
        guard let again = try? FunctionProtocol.parseCommands(w.bytes, function: "f"), sameCommands(again, cs) else {
            fatalError("a dispatcher's reply, decoded and written again, decodes to something else: \(w.string.prefix(300))")
        }
    }

    // A function's HTTP error status, the body as its reply: a 4xx is final, anything else is retried.
    let status = Int(bytes.first ?? 0) * 3
    let http = FunctionProtocol.httpFailure(status: status, body: bytes, function: "f")
    guard http.function == "f", http.retryable == !(400..<500).contains(status), http.message.utf8.starts(with: "HTTP \(status): ".utf8) else {
        fatalError("HTTP \(status) is the call error \(http)")
    }
    return 0
}

/// One decoder's outcome: typed throws make any failure a FunctionCallError; it must name the function.
struct ReplyDecoding<T> {
    let result: Result<T, FunctionCallError>

    init(_ bytes: [UInt8], _ decode: ([UInt8], String) throws(FunctionCallError) -> T) {
        do { result = .success(try decode(bytes, "f")) } catch {
            guard error.function == "f", error.reason == .failed, !error.message.isEmpty else {
                fatalError("a reply's error does not name the function: \(error)")
            }
            result = .failure(error)
        }
    }

    var failure: FunctionCallError? {
        if case .failure(let e) = result { return e }
        return nil
    }

    func expectDeterministic(_ bytes: [UInt8], _ decode: ([UInt8], String) throws(FunctionCallError) -> T, same: (T, T) -> Bool) {
        switch (result, ReplyDecoding(bytes, decode).result) {
        case (.success(let a), .success(let b)) where same(a, b): return
        case (.failure(let a), .failure(let b)) where sameError(a, b): return
        case (let a, let b): fatalError("decoding the same reply twice gave \(a) and \(b)")
        }
    }
}

func sameError(_ a: FunctionCallError, _ b: FunctionCallError) -> Bool {
    a.function == b.function && a.message == b.message && a.retryable == b.retryable && a.reason == b.reason
}

func sameHandled(_ a: FunctionProtocol.Handled, _ b: FunctionProtocol.Handled) -> Bool {
    a.events == b.events && a.state == b.state
}

/// The same commands; a `delayMs` is counted from the time of decoding, so the times may differ a little.
func sameCommands(_ a: [FunctionProtocol.ReturnedCommand], _ b: [FunctionProtocol.ReturnedCommand]) -> Bool {
    a.count == b.count
        && zip(a, b).allSatisfy { x, y in
            guard x.entity == y.entity, x.type == y.type, x.payload == y.payload else { return false }
            switch (x.notBefore, y.notBefore) {
            case (nil, nil): return true
            case (let s?, let t?): return abs(s.millisecondsSinceEpoch - t.millisecondsSinceEpoch) < 60_000
            default: return false
            }
        }
}
