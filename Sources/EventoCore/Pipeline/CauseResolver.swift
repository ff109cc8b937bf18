/// The cause fields a client may give for an event or command it submits.
public struct ClientCause: Sendable, Hashable {
    public var causationId: String?
    public var causationKind: CausationKind?
    public var correlationId: String?
    public var traceparent: String?
    /// Where these fields sit in the request, for error messages (`events[2]`).
    public var path: String

    public init(causationId: String? = nil, causationKind: CausationKind? = nil, correlationId: String? = nil, traceparent: String? = nil, path: String = "") {
        self.causationId = causationId
        self.causationKind = causationKind
        self.correlationId = correlationId
        self.traceparent = traceparent
        self.path = path
    }
}

/// The resolved cause of an item entering Evento from outside.
public struct ResolvedCause: Sendable, Hashable {
    public var causationId: String?
    public var causationKind: CausationKind
    public var correlationId: String
    public var traceparent: String
}

/// Completes client-given cause fields.
///
/// - `causationKind` `event`/`command` must name a stored event/command (or one earlier in the same request);
///   without a kind, the id is looked up and the kind follows from what it names, else it is `external`.
/// - `correlationId` defaults to the cause's correlation id when the cause is stored, else to the item's own id.
/// - `traceparent` defaults to the request's `traceparent` header, then a child of the cause's, then the
///   server's span for the request (when traced), then a new trace.
public struct CauseResolver: Sendable {
    let store: any TraceIndex

    public init(store: any TraceIndex) { self.store = store }

    /// - Parameters:
    ///   - ownId: the id of the item being submitted.
    ///   - earlier: items already resolved in the same request, by id (a batch may chain its own events).
    public func resolve(
        _ cause: ClientCause, ownId: String, headerTraceparent: String?, serverSpan: String? = nil,
        earlier: [String: (kind: ItemKind, correlationId: String, traceparent: String?)] = [:]
    ) async throws -> ResolvedCause {
        let fallback = serverSpan.flatMap(TraceParent.init)?.description ?? TraceParent.newTrace().description
        let p = cause.path.isEmpty ? "" : cause.path + "."
        var traceparent: String?
        if let t = cause.traceparent ?? headerTraceparent {
            guard TraceParent(t) != nil else {
                throw EventoError(
                    .invalidRequest, "\(p)traceparent: \"\(t)\" is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)",
                    field: "\(p)traceparent")
            }
            traceparent = t
        }
        guard let causationId = cause.causationId else {
            if let kind = cause.causationKind, kind != .external {
                throw EventoError(.invalidRequest, "\(p)causationKind: \"\(kind.rawValue)\" needs a causationId", field: "\(p)causationId")
            }
            return ResolvedCause(
                causationId: nil, causationKind: .external, correlationId: cause.correlationId ?? ownId,
                traceparent: traceparent ?? fallback)
        }
        if let problem = Names.validateId(causationId) {
            throw EventoError(.invalidRequest, "\(p)causationId: \(problem)", field: "\(p)causationId")
        }
        // Find what the cause names.
        var found: (kind: ItemKind, correlationId: String, traceparent: String?)?
        if let e = earlier[causationId] {
            found = e
        } else if cause.causationKind != .external, let item = try await store.traceItem(id: causationId) {
            switch item {
            case .event(let e): found = (.event, e.correlationId, e.traceparent)
            case .command(let c): found = (.command, c.correlationId, c.traceparent)
            }
        }
        let kind: CausationKind
        switch (cause.causationKind, found?.kind) {
        case (nil, .event?): kind = .event
        case (nil, .command?): kind = .command
        case (nil, _), (.external?, _): kind = .external
        case (.event?, .event?): kind = .event
        case (.command?, .command?): kind = .command
        case (let given?, let actual):
            let what = actual.map { "it names a stored \($0.rawValue)" } ?? "no \(given.rawValue) with that id is stored"
            throw EventoError(
                .unknownReference, "\(p)causationId: \"\(causationId)\" is given as a \(given.rawValue), but \(what)",
                field: "\(p)causationId")
        }
        let inheritedTrace = found?.traceparent.flatMap(TraceParent.init)?.child().description
        return ResolvedCause(
            causationId: causationId, causationKind: kind,
            correlationId: cause.correlationId ?? (kind == .external ? ownId : found!.correlationId),
            traceparent: traceparent ?? inheritedTrace ?? fallback)
    }
}
