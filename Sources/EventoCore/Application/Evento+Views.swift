/// The query side of the application: views, projectors, query functions.
extension Evento {
    func viewStore() throws -> any ViewStore {
        guard let views else { throw EventoError(.unavailable, "this store keeps no views") }
        return views
    }

    public func view(_ view: String, key: String) async throws -> ViewDocument? {
        try Self.checkViewKey(key, field: "key")
        return try await viewStore().viewDocument(view: view, key: key)
    }

    public func viewDocuments(_ view: String, prefix: String, after: String?, limit: Int) async throws -> [ViewDocument] {
        try Self.checkViewKey(prefix, field: "prefix")
        if let after { try Self.checkViewKey(after, field: "after") }
        return try await viewStore().viewDocuments(view: view, prefix: prefix, after: after, limit: limit)
    }

    public func viewDocuments(_ view: String, keys: [String]) async throws -> [ViewDocument] {
        for (i, key) in keys.enumerated() { try Self.checkViewKey(key, field: "keys[\(i)]") }
        return try await viewStore().viewDocuments(view: view, keys: keys)
    }

    /// A key no view can hold is refused as the request's error (400), not left to the store.
    static func checkViewKey(_ key: String, field: String) throws(EventoError) {
        if let problem = Names.viewKeyProblem(key) { throw EventoError(.invalidRequest, "\(field): \(problem)", field: field) }
    }

    /// A projector as `GET /projectors/{name}` shows it.
    public struct ProjectorStatus: Sendable {
        public var state: ProjectorState
        public var function: FunctionDefinition?
        /// Events in the log after the cursor the projector writes now (the rebuild's while rebuilding).
        public var lag: Int64
    }

    public func projector(_ name: String) async throws -> ProjectorStatus {
        let function = functions.function(named: name)
        let stored = try await viewStore().projectorState(name)
        guard function?.kind == .projector || stored != nil else {
            throw EventoError.notFound("no projector named \"\(name)\"")
        }
        let state = stored ?? ProjectorState(name: name)
        let head = try await store.headPosition()
        return ProjectorStatus(state: state, function: function, lag: max(0, head - state.track.cursor))
    }

    public func projectorList() async throws -> [ProjectorStatus] {
        let head = try await store.headPosition()
        var states = Dictionary(uniqueKeysWithValues: try await viewStore().projectorStates().map { ($0.name, $0) })
        for p in functions.projectors() where states[p.name] == nil { states[p.name] = ProjectorState(name: p.name) }
        return states.values.sorted { $0.name < $1.name }.map {
            ProjectorStatus(state: $0, function: functions.function(named: $0.name), lag: max(0, head - $0.track.cursor))
        }
    }

    /// Starts rebuilding a projector's views from position 0 into a new generation (reads keep the current
    /// one until the rebuild has caught up, then swap).
    public func rebuild(projector name: String) async throws -> ProjectorStatus {
        guard functions.function(named: name)?.kind == .projector else { throw EventoError.notFound("no projector named \"\(name)\" is registered") }
        _ = try await viewStore().beginRebuild(name)
        projectors?.wake(name)
        return try await projector(name)
    }

    /// Unparks a projector: it tries its batch again now.
    public func retry(projector name: String) async throws -> ProjectorStatus {
        let status = try await projector(name)
        guard status.state.status == .parked else {
            throw EventoError(.conflict, "projector \(name) is \(status.state.status.rawValue); only a parked projector can be retried")
        }
        try await viewStore().setProjectorStatus(
            name, status: status.state.rebuildCursor != nil ? .rebuilding : .running, lastError: status.state.lastError, at: status.state.track)
        projectors?.wake(name)
        return try await projector(name)
    }

    /// Calls a query function with the request's parameters; its `result`.
    public func query(_ name: String, params: [(String, String)], eventoURL: String) async throws -> JSONValue {
        guard let function = functions.function(named: name), function.kind == .query else {
            throw EventoError.notFound("no query named \"\(name)\" is registered")
        }
        do {
            let reply = try await functions.invoke(function, request: FunctionProtocol.queryRequest(params: params, eventoURL: eventoURL))
            return try FunctionProtocol.parseQueryResult(reply, function: name)
        } catch let e as FunctionCallError {
            // A query that says retrying cannot help refused its parameters (an unknown id, one missing): the
            // request's fault, a 400. A crash, a timeout, a bad reply: the function's, a 502.
            if !e.retryable, e.reason == .failed { throw EventoError(.invalidRequest, "query \(name) refused the request: \(e.message)") }
            throw EventoError(.functionFailed, e.description)
        }
    }
}

extension Evento {
    /// An aggregate's entities by their snapshots, in id order, filtered by top-level state fields. A
    /// filter on a unique field is a lookup by its reservation (exact, case-folded for a casefold field).
    public func aggregates(_ aggregate: String, filters: [(field: String, value: String)], after: String?, limit: Int) async throws -> [Snapshot] {
        // What no store can compare (PostgreSQL's text refuses U+0000; entity ids never hold it).
        for f in filters where f.value.utf8.contains(0) {
            throw EventoError(.invalidRequest, "\(f.field): the value contains U+0000 (NUL), which Evento cannot compare", field: f.field)
        }
        if let after, after.utf8.contains(0) { throw EventoError(.invalidRequest, "after: contains U+0000 (NUL), which no entity id holds", field: "after") }
        let unique = validator.uniqueFields(aggregate: aggregate)
        if let index = store as? any UniqueIndex,
            let i = filters.firstIndex(where: { f in unique.contains { $0.name == f.field } }),
            let field = unique.first(where: { $0.name == filters[i].field })
        {
            guard let entity = try await index.entity(aggregate: aggregate, field: field.name, value: field.key(forText: filters[i].value)) else { return [] }
            if let after, !Array(after.utf8).lexicographicallyPrecedes(Array(entity.rawValue.utf8)) { return [] }
            guard let snapshot = try await store.snapshot(of: entity) else { return [] }
            let rest = filters.enumerated().filter { $0.offset != i }.map(\.element)
            return snapshot.matches(rest) ? [snapshot] : []
        }
        guard let listing = store as? any SnapshotListing else { throw EventoError(.unavailable, "this store cannot list aggregates") }
        return try await listing.snapshots(aggregate: aggregate, where: filters, after: after, limit: limit)
    }
}
