/// `GET /trace/{id}`'s answer: the chain from an item back to its root, and the tree of everything it
/// caused, with each item's members already written (measured against the byte budget as it was walked).
public struct Trace: Sendable {
    public enum ChainLink: Sendable {
        case item(TraceItem, json: [UInt8])
        /// A cause that is not an event or command of this store (an external request, or an item not found).
        case reference(id: String, kind: CausationKind, missing: Bool)
    }

    /// One node of the tree: its members (JSON, without braces) and its children as indexes.
    public struct Node: Sendable {
        public var members: [UInt8]
        public var children: [Int] = []
        /// It has children that the depth limit left out.
        public var cut = false
    }

    public var id: String
    /// Root first.
    public var chain: [ChainLink]
    public var nodes: [Node]
    /// The items `id` caused directly, as indexes into `nodes`.
    public var roots: [Int]
    /// The chain stopped at its length or byte limit (the first link's cause is where to go on).
    public var chainTruncated: Bool
    /// The tree stopped at a limit (depth, nodes or bytes).
    public var truncated: Bool
    /// ...and it was the byte limit.
    public var truncatedByBytes: Bool
    /// Bytes the answer takes, about.
    public var bytes: Int
}

/// Walks a trace. Clients build these shapes (a batch of 8,000 events, each caused by the one before, is
/// one request), so nothing here recurses: the tree is walked breadth first into flat arrays (no chain of
/// objects whose release would recurse), and every dimension is capped.
public struct TraceWalker: Sendable {
    let store: any TraceIndex
    /// Most bytes of items in the answer (the chain and the tree both carry payloads).
    public var maxBytes: Int
    /// Most nodes in the tree.
    public var maxNodes = 10_000
    /// Longest cause chain followed (it also guards against cycles a client could build with given ids).
    public var maxChain = 1_000
    /// Deepest generation of the tree. Each generation nests two JSON levels (a node and its `caused`),
    /// so 128 keeps the answer within what JSON parsers take (512 levels), with room for the payloads' own
    /// nesting.
    public var maxTreeDepth = 128

    public init(store: any TraceIndex, maxBytes: Int) {
        self.store = store
        self.maxBytes = maxBytes
    }

    /// An item's members as JSON (without the braces), to be measured now and spliced in later.
    static func members(_ item: TraceItem) -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        w.object { item.writeMembers(to: &$0) }
        return Array(w.bytes[1..<(w.bytes.count - 1)])
    }

    /// - Throws: not found, when `id` is no item and nothing names it as its cause.
    public func walk(_ id: String) async throws -> Trace {
        let start = try await store.traceItem(id: id)
        let budget = maxBytes
        var used = 64 + id.utf8.count
        // The chain, walked back from the item, then reversed: root first.
        var chain: [Trace.ChainLink] = []
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
        var nodes: [Trace.Node] = []
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
                    nodes.append(Trace.Node(members: json))
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

        return Trace(
            id: id, chain: chain, nodes: nodes, roots: roots, chainTruncated: chainTruncated, truncated: truncated,
            truncatedByBytes: truncatedByBytes, bytes: used)
    }
}
