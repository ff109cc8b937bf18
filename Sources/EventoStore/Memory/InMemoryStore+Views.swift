import EventoCore

extension InMemoryStore: ViewStore {
    static func slot(_ view: String, _ generation: Int64) -> String { "\(view)\u{0}\(generation)" }

    public func commitProjection(_ commit: ProjectionCommit) async throws {
        try write { s, now in
            var p = s.projectors[commit.projector] ?? ProjectorState(name: commit.projector)
            let track = p.track
            guard track.generation == commit.generation, track.cursor == commit.from else {
                throw ProjectionConflict(projector: commit.projector, expected: commit.from)
            }
            // Check everything first: a write either applies whole or not at all.
            for op in commit.operations {
                if let holder = s.views[op.view]?.projector, holder != commit.projector {
                    throw EventoError(.conflict, "view \(op.view) belongs to projector \(holder)", field: "view")
                }
            }
            // Documents as the operations leave them, validated, before anything changes.
            var results: [String: JSONValue?] = [:]
            for op in commit.operations {
                let slot = Self.slot(op.view, commit.generation)
                let current = results["\(slot)\u{0}\(op.key)"] ?? s.viewDocuments[slot]?[op.key]
                var doc = op.apply(to: current)
                if let d = doc { doc = try JSONParser.parse(try commit.stored(op.view, d)) }
                results["\(slot)\u{0}\(op.key)"] = .some(doc)
            }
            for op in commit.operations {
                if s.views[op.view] == nil { s.views[op.view] = (commit.projector, p.generation) }
            }
            for (k, doc) in results {
                let parts = k.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
                let slot = parts[0] + "\u{0}" + parts[1]
                s.viewDocuments[slot, default: [:]][parts[2]] = doc
            }
            if p.rebuildCursor != nil { p.rebuildCursor = commit.to } else { p.cursor = commit.to }
            if p.status == .parked { p.status = p.rebuildCursor != nil ? .rebuilding : .running }
            p.lastError = nil
            p.updatedAt = now
            s.projectors[commit.projector] = p
        }
    }

    public func projectorState(_ name: String) async throws -> ProjectorState? { try read { $0.projectors[name] } }

    public func projectorStates() async throws -> [ProjectorState] { try read { $0.projectors.values.sorted { $0.name < $1.name } } }

    @discardableResult
    public func setProjectorStatus(_ name: String, status: ProjectorState.Status, lastError: String?, at track: (generation: Int64, cursor: Int64)?) async throws -> Bool {
        try write { s, now in
            var p = s.projectors[name] ?? ProjectorState(name: name)
            guard p.isAt(track) else { return false }
            p.status = status
            p.lastError = lastError
            p.updatedAt = now
            s.projectors[name] = p
            return true
        }
    }

    public func beginRebuild(_ name: String) async throws -> ProjectorState {
        try write { s, now in
            var p = s.projectors[name] ?? ProjectorState(name: name)
            for (view, v) in s.views where v.projector == name { s.viewDocuments[Self.slot(view, p.generation + 1)] = nil }
            p.rebuildCursor = 0
            p.status = .rebuilding
            p.lastError = nil
            p.updatedAt = now
            s.projectors[name] = p
            return p
        }
    }

    public func finishRebuild(_ name: String, at rebuildCursor: Int64) async throws {
        try write { s, now in
            guard var p = s.projectors[name], let rebuilt = p.rebuildCursor, rebuilt == rebuildCursor else {
                throw ProjectionConflict(projector: name, expected: rebuildCursor)
            }
            for (view, v) in s.views where v.projector == name {
                s.views[view] = (name, p.generation + 1)
                s.viewDocuments[Self.slot(view, p.generation)] = nil
            }
            p.generation += 1
            p.cursor = rebuilt
            p.rebuildCursor = nil
            p.status = .running
            p.updatedAt = now
            s.projectors[name] = p
        }
    }

    private func live(_ s: State, _ view: String) -> (docs: [String: JSONValue], position: Int64)? {
        guard let v = s.views[view], let p = s.projectors[v.projector] else { return nil }
        return (s.viewDocuments[Self.slot(view, v.generation)] ?? [:], p.cursor)
    }

    public func viewDocument(view: String, key: String) async throws -> ViewDocument? {
        try read { s in
            guard let (docs, position) = live(s, view), let doc = docs[key] else { return nil }
            return ViewDocument(key: key, doc: RawJSON(doc), position: position)
        }
    }

    public func viewDocuments(view: String, prefix: String, after: String?, limit: Int) async throws -> [ViewDocument] {
        try read { s in
            guard let (docs, position) = live(s, view) else { return [] }
            let keys = docs.keys.filter { k in k.hasPrefix(prefix) && (after.map { a in Array(a.utf8).lexicographicallyPrecedes(Array(k.utf8)) } ?? true) }
                .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            return keys.prefix(limit).map { ViewDocument(key: $0, doc: RawJSON(docs[$0]!), position: position) }
        }
    }

    public func viewDocuments(view: String, keys: [String]) async throws -> [ViewDocument] {
        try read { s in
            guard let (docs, position) = live(s, view) else { return [] }
            return keys.compactMap { k in docs[k].map { ViewDocument(key: k, doc: RawJSON($0), position: position) } }
        }
    }
}

extension InMemoryStore: UniqueIndex {
    public func entity(aggregate: String, field: String, value: String) async throws -> EntityId? {
        try read { s in s.uniqueValues["\(aggregate)\u{0}\(field)\u{0}\(value)"].map(EntityId.init(stored:)) }
    }
}

extension InMemoryStore: SnapshotListing {
    public func replace(_ snapshot: Snapshot, uniqueValues: [UniqueValue]) async throws {
        try write { s, _ in
            guard (s.snapshots[snapshot.entity.rawValue]?.version ?? -1) <= snapshot.version else { return }
            try s.reserve(uniqueValues)
            s.snapshots[snapshot.entity.rawValue] = snapshot
        }
    }

    public func snapshots(aggregate: String, where filters: [(field: String, value: String)], after: String?, limit: Int) async throws -> [Snapshot] {
        try read { s in
            let low = after ?? ""
            return s.snapshots.values
                .filter { $0.entity.aggregate == aggregate && Array($0.entity.rawValue.utf8).lexicographicallyPrecedes(Array(low.utf8)) == false && $0.entity.rawValue != low }
                .filter { $0.matches(filters) }
                .sorted { Array($0.entity.rawValue.utf8).lexicographicallyPrecedes(Array($1.entity.rawValue.utf8)) }
                .prefix(limit).map { $0 }
        }
    }
}
