import EventoCore

/// The call id of the worker protocol: every request Evento writes to a worker starts with
/// `{"callId":N,` and the worker's reply must carry the same `"callId"` member, so a reply is matched to
/// its call and a stray or missing line cannot shift replies onto other calls.
///
/// The runtimes echo the id as the reply's first member, so checking a reply usually means reading its
/// first few bytes; a reply that does not start that way is parsed in full (a hand-written worker may put
/// the id anywhere) before it is refused.
enum CallFrame {
    enum Match: Equatable {
        /// The reply to the call, with the `callId` member taken out (what the function protocol parses).
        case reply([UInt8])
        /// Not a reply to this call: why.
        case violation(String)
    }

    private static let prefix = Array(#"{"callId":"#.utf8)

    /// `request` (a JSON object) with `"callId":id` as its first member, ending in a newline.
    static func request(_ request: [UInt8], id: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(request.count + 32)
        out += prefix
        out += Array(String(id).utf8)
        var i = 0
        while i < request.count && isSpace(request[i]) { i += 1 }
        precondition(i < request.count && request[i] == UInt8(ascii: "{"), "a function request is a JSON object")
        i += 1
        var j = i
        while j < request.count && isSpace(request[j]) { j += 1 }
        if j < request.count && request[j] != UInt8(ascii: "}") { out.append(UInt8(ascii: ",")) }
        out += request[i...]
        out.append(UInt8(ascii: "\n"))
        return out
    }

    /// Checks that `line` is the reply to call `id`.
    static func match(_ line: [UInt8], id: UInt64) -> Match {
        if let reply = fastMatch(line, id: id) { return .reply(reply) }
        let value: JSONValue
        do { value = try JSONParser.parse(line) } catch {
            return .violation("a line that is not a JSON reply (\(error.message)): \(preview(line))")
        }
        guard case .object(let object) = value else { return .violation("a line that is not a JSON object: \(preview(line))") }
        guard let echoed = object["callId"] else {
            return .violation("the reply has no callId (expected \(id); a worker echoes the request's callId): \(preview(line))")
        }
        guard echoed.intValue.map({ $0 >= 0 && UInt64($0) == id }) == true else {
            return .violation("the reply is for callId \(echoed.jsonText), expected \(id)")
        }
        var w = JSONWriter(capacity: line.count)
        w.value(.object(JSONObject(object.members.filter { $0.key != "callId" })))
        return .reply(w.bytes)
    }

    /// `{ "callId" : <id> ,` or `{ "callId" : <id> }` at the start, whitespace allowed: the reply without it.
    private static func fastMatch(_ line: [UInt8], id: UInt64) -> [UInt8]? {
        let digits = Array(String(id).utf8)
        var i = 0
        func skipSpace() { while i < line.count && isSpace(line[i]) { i += 1 } }
        func expect(_ bytes: some Collection<UInt8>) -> Bool {
            guard line.count - i >= bytes.count, line[i..<(i + bytes.count)].elementsEqual(bytes) else { return false }
            i += bytes.count
            return true
        }
        skipSpace()
        guard expect(CollectionOfOne(UInt8(ascii: "{"))) else { return nil }
        skipSpace()
        guard expect(#""callId""#.utf8) else { return nil }
        skipSpace()
        guard expect(CollectionOfOne(UInt8(ascii: ":"))) else { return nil }
        skipSpace()
        guard expect(digits) else { return nil }
        guard i < line.count, !isDigit(line[i]) else { return nil }
        skipSpace()
        guard i < line.count else { return nil }
        var reply: [UInt8] = [UInt8(ascii: "{")]
        reply.reserveCapacity(line.count - i + 1)
        switch line[i] {
        case UInt8(ascii: ","): reply += line[(i + 1)...]
        case UInt8(ascii: "}"): reply += line[i...]
        default: return nil
        }
        return reply
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
    private static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    static func preview(_ line: [UInt8]) -> String {
        let text = String(decoding: line.prefix(200), as: UTF8.self)
        return line.count > 200 ? text + "…" : text
    }
}
