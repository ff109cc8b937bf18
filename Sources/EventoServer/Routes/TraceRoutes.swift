import EventoCore
import Hummingbird

/// `GET /trace/{id}`: the chain from an item back to its root, and the tree of everything it caused
/// (`Evento.trace` walks it), written with an explicit stack. The answer says where it was cut so that the
/// client can ask again from there:
/// - the chain at its length or the byte limit: `"chainTruncated": true` (the first link's cause is where
///   to continue);
/// - the tree at its depth (the node whose children were not followed says `"truncated": true`), its
///   node count, or the byte limit (`"truncatedByBytes": true`): `"truncated": true` at the top.
struct TraceRoutes<Context: RequestContext>: Sendable {
    let evento: Evento
    /// Largest answer, in bytes.
    let maxResponseBytes: Int

    func register(on router: Router<Context>) {
        router.get("/trace/:id") { request, context in try await self.trace(context) }
    }

    func trace(_ context: Context) async throws -> Response {
        let id = try context.parameters.decoded("id")
        let trace = try await evento.trace(id: id, maxBytes: maxResponseBytes - ResponsePage.reserve)
        var w = JSONWriter(capacity: trace.bytes + 1024)
        w.raw("{\"id\":")
        w.string(trace.id)
        w.raw(",\"chain\":[")
        for (i, link) in trace.chain.enumerated() {
            if i > 0 { w.raw(",") }
            switch link {
            case .item(_, let json):
                w.raw("{")
                w.bytes.append(contentsOf: json)
                w.raw("}")
            case .reference(let rid, let kind, let missing):
                w.object { o in
                    o.field("id", rid)
                    o.field("kind", kind.rawValue)
                    if missing { o.field("missing", true) }
                }
            }
        }
        w.raw("],\"descendants\":")
        Self.write(trace.roots, of: trace.nodes, to: &w)
        if trace.chainTruncated { w.raw(",\"chainTruncated\":true") }
        if trace.truncated { w.raw(",\"truncated\":true") }
        if trace.truncatedByBytes { w.raw(",\"truncatedByBytes\":true") }
        w.raw("}")
        return JSONResponse.bytes(w)
    }

    /// Writes `[{…members, "caused": […]}, …]` depth first with an explicit stack.
    static func write(_ roots: [Int], of nodes: [Trace.Node], to w: inout JSONWriter) {
        // Each frame is an open `[`: the node it belongs to (nil for `descendants`), and the next child.
        var stack: [(node: Int?, next: Int)] = [(nil, 0)]
        w.raw("[")
        while let (node, next) = stack.last {
            let children = node.map { nodes[$0].children } ?? roots
            guard next < children.count else {
                stack.removeLast()
                w.raw("]")
                if let node {
                    if nodes[node].cut { w.raw(",\"truncated\":true") }
                    w.raw("}")
                }
                continue
            }
            stack[stack.count - 1].next += 1
            if next > 0 { w.raw(",") }
            let child = children[next]
            w.raw("{")
            w.bytes.append(contentsOf: nodes[child].members)
            w.raw(",\"caused\":[")
            stack.append((child, 0))
        }
    }
}
