import EventoCore
import Hummingbird

/// `GET /trace/{id}`: the chain from an item back to its root, and the tree of everything it caused.
struct TraceRoutes<Context: RequestContext>: Sendable {
    let store: any EventoStorage
    /// Most nodes returned in `descendants`; beyond it the answer says `"truncated": true`.
    var maxNodes = 10_000
    /// Longest cause chain followed (guards against cycles a client could build with given ids).
    var maxDepth = 1_000

    func register(on router: Router<Context>) {
        router.get("/trace/:id") { request, context in try await self.trace(context) }
    }

    enum ChainLink {
        case item(TraceItem)
        /// A cause that is not an event or command of this store (an external request, or an item not found).
        case reference(id: String, kind: CausationKind, missing: Bool)
    }

    final class Node {
        let item: TraceItem
        var caused: [Node] = []
        init(_ item: TraceItem) { self.item = item }
    }

    func trace(_ context: Context) async throws -> Response {
        let id = try context.parameters.decoded("id")
        let start = try await store.traceItem(id: id)
        // The chain, root first.
        var chain: [ChainLink] = []
        if let start {
            chain.append(.item(start))
            var current = start
            var seen: Set<String> = [start.id]
            while let cause = current.causationId, chain.count < maxDepth, !seen.contains(cause) {
                seen.insert(cause)
                if current.causationKind == .external {
                    chain.append(.reference(id: cause, kind: .external, missing: false))
                    break
                }
                guard let next = try await store.traceItem(id: cause) else {
                    chain.append(.reference(id: cause, kind: current.causationKind, missing: true))
                    break
                }
                chain.append(.item(next))
                current = next
            }
            chain.reverse()
        }
        // The tree forward, breadth first.
        var roots: [Node] = []
        var queue: [(id: String, attach: Node?)] = [(id, nil)]
        var count = 0
        var truncated = false
        var visited: Set<String> = [id]
        var head = 0
        while head < queue.count {
            let (parentId, parent) = queue[head]
            head += 1
            let children = try await store.items(causedBy: parentId, limit: maxNodes - count + 1)
            for child in children where !visited.contains(child.id) {
                if count >= maxNodes {
                    truncated = true
                    break
                }
                visited.insert(child.id)
                count += 1
                let node = Node(child)
                if let parent { parent.caused.append(node) } else { roots.append(node) }
                queue.append((child.id, node))
            }
            if truncated { break }
        }
        if start == nil && roots.isEmpty {
            throw EventoError.notFound("no event or command with id \"\(id)\", and nothing caused by it")
        }
        if start == nil { chain = [.reference(id: id, kind: .external, missing: false)] }
        return JSONResponse.object { o in
            o.field("id", id)
            o.array("chain", chain) { w, link in
                switch link {
                case .item(let item): w.object { item.writeMembers(to: &$0) }
                case .reference(let rid, let kind, let missing):
                    w.object { o in
                        o.field("id", rid)
                        o.field("kind", kind.rawValue)
                        if missing { o.field("missing", true) }
                    }
                }
            }
            o.array("descendants", roots) { w, node in Self.write(node, to: &w) }
            if truncated { o.field("truncated", true) }
        }
    }

    static func write(_ node: Node, to w: inout JSONWriter) {
        w.object { o in
            node.item.writeMembers(to: &o)
            o.array("caused", node.caused) { w, child in write(child, to: &w) }
        }
    }
}
