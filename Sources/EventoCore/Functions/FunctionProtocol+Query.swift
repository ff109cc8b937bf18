/// The function protocol for the query side:
///
/// ```
/// project: {"kind":"project","events":[envelope, …]}  (position order)
///          → {"operations":[{"op":"put","view":V,"key":K,"doc":{…}}, {"op":"merge","view":V,"key":K,"patch":{…}},
///                           {"op":"delete","view":V,"key":K}]}
/// query:   {"kind":"query","params":{name: value, …},"eventoUrl":"http://…"} → {"result": any}
/// ```
extension FunctionProtocol {
    /// Longest view name and key.
    public static let maxViewName = 128
    public static let maxViewKey = 512

    public static func projectRequest(events: [EventEnvelope]) -> [UInt8] {
        var w = JSONWriter(capacity: 256 * max(1, events.count))
        w.object { o in
            o.field("kind", "project")
            o.array("events", events) { w, e in e.write(to: &w) }
        }
        return w.bytes
    }

    public static func queryRequest(params: [(String, String)], eventoURL: String) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.object { o in
            o.field("kind", "query")
            o.object("params") { p in
                for (k, v) in params { p.field(k, value: .string(v)) }
            }
            o.field("eventoUrl", eventoURL)
        }
        return w.bytes
    }

    /// A projector's reply: its view operations, each checked (view names like aggregate names, keys
    /// non-empty, documents objects).
    public static func parseOperations(_ bytes: [UInt8], function: String) throws(FunctionCallError) -> [ViewOperation] {
        var r = try reply(bytes, function: function)
        do throws(EventoError) {
            guard let items = try r.array("operations") else { throw EventoError.invalid("operations", "is required (an empty list when nothing changes)") }
            try r.rejectUnknownFields()
            var out: [ViewOperation] = []
            out.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                var o = try FieldReader(item, path: "operations[\(i)]")
                let op = try o.requireString("op")
                let view = try o.requireString("view")
                guard Names.isViewName(view) else {
                    throw EventoError.invalid(o.path("view"), "\"\(view)\" is not a view name (1 to \(maxViewName) of A-Z a-z 0-9 _ - ., starting with a letter)")
                }
                let key = try o.requireString("key")
                guard !key.isEmpty, key.utf8.count <= maxViewKey else {
                    throw EventoError.invalid(o.path("key"), "expected 1 to \(maxViewKey) bytes, got \(key.utf8.count)")
                }
                if let problem = Names.viewKeyProblem(key) { throw EventoError.invalid(o.path("key"), problem) }
                switch op {
                case "put":
                    let doc = try o.require("doc")
                    guard case .object = doc else { throw EventoError.invalid(o.path("doc"), "expected object, got \(doc.typeName)") }
                    out.append(.put(view: view, key: key, doc: doc))
                case "merge":
                    let patch = try o.require("patch")
                    guard case .object = patch else { throw EventoError.invalid(o.path("patch"), "expected object (an RFC 7396 merge patch), got \(patch.typeName)") }
                    out.append(.merge(view: view, key: key, patch: patch))
                case "delete":
                    out.append(.delete(view: view, key: key))
                default:
                    throw EventoError.invalid(o.path("op"), "expected put, merge or delete, got \"\(op)\"")
                }
                try o.rejectUnknownFields()
            }
            return out
        } catch { throw invalid(function, error) }
    }

    /// A query's reply: its `result`, any JSON.
    public static func parseQueryResult(_ bytes: [UInt8], function: String) throws(FunctionCallError) -> JSONValue {
        var r = try reply(bytes, function: function)
        do throws(EventoError) {
            guard let result = r.value("result") else { throw EventoError.invalid("result", "is required") }
            try r.rejectUnknownFields()
            return result
        } catch { throw invalid(function, error) }
    }
}

extension Names {
    /// Why `key` cannot be a view key (nil when it can): any text but U+0000, which PostgreSQL's text
    /// refuses (refused with either store, so that views move between them).
    public static func viewKeyProblem(_ key: String) -> String? {
        key.utf8.contains(0) ? "contains U+0000 (NUL), which a view key cannot hold" : nil
    }

    /// A view name: a letter, then up to 127 of letters, digits, `_`, `-`, `.`.
    public static func isViewName(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard let first = b.first, b.count <= FunctionProtocol.maxViewName,
            (first >= 0x41 && first <= 0x5A) || (first >= 0x61 && first <= 0x7A)
        else { return false }
        return b.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E }
    }
}
