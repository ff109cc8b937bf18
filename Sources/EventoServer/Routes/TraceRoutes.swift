import EventoCore
import Hummingbird

/// `GET /trace/{id}`: the chain from an item back to its root, and the tree of everything it caused.
///
/// Clients build these shapes (a batch of 8,000 events, each caused by the one before, is one request),
/// so nothing here recurses: the tree is walked breadth first, held in flat arrays (no chain of objects
/// whose release would recurse) and written with an explicit stack. Every dimension is capped, and the
/// answer says where it was cut so that the client can ask again from there:
/// - the chain at `maxChain` links or the byte limit: `"chainTruncated": true` (the first link's cause
///   is where to continue);
/// - the tree at `maxTreeDepth` generations (the node whose children were not followed says
///   `"truncated": true`), at `maxNodes` nodes, or at the byte limit (`"truncatedByBytes": true`):
///   `"truncated": true` at the top.
struct TraceRoutes<Context: RequestContext>: Sendable {
    let store: any EventoStorage
    /// Largest answer, in bytes (the chain and the tree both carry payloads).
    let maxResponseBytes: Int
    /// Most nodes returned in `descendants`.
    var maxNodes = 10_000
    /// Longest cause chain followed (it also guards against cycles a client could build with given ids).
    var maxChain = 1_000
    /// Deepest generation of `descendants`. Each generation nests two JSON levels (a node and its
    /// `caused`), so 128 keeps the answer within what JSON parsers take (512 levels here and in
    /// Foundation), with room for the payloads' own nesting.
    var maxTreeDepth = 128

    func register(on router: Router<Context>) {
        router.get("/trace/:id") { request, context in try await self.trace(context) }
    }

    enum ChainLink {
        case item(TraceItem, json: [UInt8])
        /// A cause that is not an event or command of this store (an external request, or an item not found).
        case reference(id: String, kind: CausationKind, missing: Bool)
    }

    /// One node of `descendants`: its members, already written, and its children as indexes.
    struct Node {
        var members: [UInt8]
        var children: [Int] = []
        /// It has children that the depth limit left out.
        var cut = false
    }

    /// An item's members as JSON (without the braces), to be measured now and spliced in later.
    static func members(_ item: TraceItem) -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        w.object { item.writeMembers(to: &$0) }
        return Array(w.bytes[1..<(w.bytes.count - 1)])
    }

    func trace(_ context: Context) async throws -> Response {
        let id = try context.parameters.decoded("id")
        let start = try await store.traceItem(id: id)
        let budget = maxResponseBytes - ResponsePage.reserve
        var used = 64 + id.utf8.count
        // The chain, walked back from the item, then reversed: root first.
        var chain: [ChainLink] = []
        var chainTruncated = false
        var startBytes = 0
        if let start {
            let json = Self.members(start)
            startBytes = json.count
            used += json.count + 4
            chain.append(.item(start, json: json))
            var current = start
            var seen: Set<String> = [start.id]
            while let cause = current.causationId, !seen.contains(cause) {
                guard chain.count < maxChain else {
                    chainTruncated = true
                    break
                }
                seen.insert(cause)
                if current.causationKind == .external {
                    chain.append(.reference(id: cause, kind: .external, missing: false))
                    break
                }
                guard let next = try await store.traceItem(id: cause) else {
                    chain.append(.reference(id: cause, kind: current.causationKind, missing: true))
                    break
                }
                let json = Self.members(next)
                guard used + json.count + 4 <= budget else {
                    chainTruncated = true
                    break
                }
                used += json.count + 4
                chain.append(.item(next, json: json))
                current = next
            }
            chain.reverse()
        }

        // The tree forward, breadth first, into flat arrays.
        var nodes: [Node] = []
        var roots: [Int] = []
        var queue: [(id: String, node: Int?, depth: Int)] = [(id, nil, 0)]
        var head = 0
        var visited: Set<String> = [id]
        var truncated = false
        var truncatedByBytes = false
        // Sizes seen so far, to ask the store for about as many children as the byte budget can still take.
        var averageNodeBytes = max(1024, startBytes)
        expanding: while head < queue.count {
            let (parentId, parent, depth) = queue[head]
            head += 1
            if depth >= maxTreeDepth {
                if let parent, !(try await store.items(causedBy: parentId, limit: 1)).isEmpty {
                    nodes[parent].cut = true
                    truncated = true
                }
                continue
            }
            var ask = min(maxNodes - nodes.count + 1, max(1, (budget - used) / averageNodeBytes + 1), 256)
            while true {
                let children = try await store.items(causedBy: parentId, limit: ask)
                for child in children where !visited.contains(child.id) {
                    let json = Self.members(child)
                    let size = json.count + 32  // {, ,"caused":[], ,"truncated":true, }, the comma
                    if nodes.count >= maxNodes || used + size > budget {
                        truncated = true
                        truncatedByBytes = nodes.count < maxNodes
                        break expanding
                    }
                    visited.insert(child.id)
                    used += size
                    nodes.append(Node(members: json))
                    averageNodeBytes = max(1, (averageNodeBytes * 7 + size) / 8)
                    let index = nodes.count - 1
                    if let parent { nodes[parent].children.append(index) } else { roots.append(index) }
                    queue.append((child.id, index, depth + 1))
                }
                // Asked for `ask` of each kind: when either came back full there may be more.
                let events = children.count(where: { if case .event = $0 { true } else { false } })
                guard events == ask || children.count - events == ask else { break }
                ask = min(ask * 4, maxNodes - nodes.count + 1)
            }
        }
        if start == nil && roots.isEmpty {
            throw EventoError.notFound("no event or command with id \"\(id)\", and nothing caused by it")
        }
        if start == nil { chain = [.reference(id: id, kind: .external, missing: false)] }

        var w = JSONWriter(capacity: used + 1024)
        w.raw("{\"id\":")
        w.string(id)
        w.raw(",\"chain\":[")
        for (i, link) in chain.enumerated() {
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
        Self.write(roots, of: nodes, to: &w)
        if chainTruncated { w.raw(",\"chainTruncated\":true") }
        if truncated { w.raw(",\"truncated\":true") }
        if truncatedByBytes { w.raw(",\"truncatedByBytes\":true") }
        w.raw("}")
        return JSONResponse.bytes(w)
    }

    /// Writes `[{…members, "caused": […]}, …]` depth first with an explicit stack.
    static func write(_ roots: [Int], of nodes: [Node], to w: inout JSONWriter) {
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
