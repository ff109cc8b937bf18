/// One change a projector asks for on a view document.
public enum ViewOperation: Sendable, Hashable {
    /// Sets the whole document.
    case put(view: String, key: String, doc: JSONValue)
    /// Applies an RFC 7396 JSON merge patch to the document (an absent one is patched as `{}`), so sets
    /// and maps are updated without reading first.
    case merge(view: String, key: String, patch: JSONValue)
    /// Removes the document (nothing when absent).
    case delete(view: String, key: String)

    public var view: String {
        switch self {
        case .put(let v, _, _), .merge(let v, _, _), .delete(let v, _): v
        }
    }

    public var key: String {
        switch self {
        case .put(_, let k, _), .merge(_, let k, _), .delete(_, let k): k
        }
    }

    /// The document after this operation, given the one before (nil: absent).
    public func apply(to current: JSONValue?) -> JSONValue? {
        switch self {
        case .put(_, _, let doc): doc
        case .merge(_, _, let patch): JSONValue.mergePatch(current ?? .null, patch)
        case .delete: nil
        }
    }
}

extension JSONValue {
    /// RFC 7396: members of an object patch replace the target's, `null` members remove them, nested
    /// objects merge recursively; any other patch replaces the target whole.
    public static func mergePatch(_ target: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard case .object(let p) = patch else { return patch }
        var result: JSONObject
        if case .object(let t) = target { result = t } else { result = JSONObject() }
        for m in p {
            if case .null = m.value {
                result[m.key] = nil
            } else {
                result[m.key] = mergePatch(result[m.key] ?? .null, m.value)
            }
        }
        return .object(result)
    }
}

/// A view document as read: its key, its JSON, and the position of the last event its view reflects.
public struct ViewDocument: Sendable, Hashable {
    public var key: String
    public var doc: RawJSON
    public var position: Int64

    public init(key: String, doc: RawJSON, position: Int64) {
        self.key = key
        self.doc = doc
        self.position = position
    }
}

/// Where a projector is: the generation its views serve and how far it has projected, and the
/// generation being rebuilt beside it, if any.
public struct ProjectorState: Sendable, Hashable {
    public enum Status: String, Sendable {
        case running
        case rebuilding
        /// Stuck on a batch after its retries: it waits for `POST /projectors/{name}/retry`.
        case parked
    }

    public var name: String
    /// The generation reads are served from.
    public var generation: Int64
    /// The last event position projected into `generation`.
    public var cursor: Int64
    /// While rebuilding: the last position projected into `generation + 1`.
    public var rebuildCursor: Int64?
    public var status: Status
    public var lastError: String?
    public var updatedAt: Timestamp

    public init(
        name: String, generation: Int64 = 1, cursor: Int64 = 0, rebuildCursor: Int64? = nil, status: Status = .running,
        lastError: String? = nil, updatedAt: Timestamp = .now()
    ) {
        self.name = name
        self.generation = generation
        self.cursor = cursor
        self.rebuildCursor = rebuildCursor
        self.status = status
        self.lastError = lastError
        self.updatedAt = updatedAt
    }

    /// The generation the projector writes now and its cursor there.
    public var track: (generation: Int64, cursor: Int64) {
        if let rebuildCursor { return (generation + 1, rebuildCursor) }
        return (generation, cursor)
    }

    /// Whether the projector is at `expected` (nil: anywhere): see `ViewStore.setProjectorStatus`.
    public func isAt(_ expected: (generation: Int64, cursor: Int64)?) -> Bool {
        guard let expected else { return true }
        return track == expected
    }
}

/// A projector's batch: the operations its events gave and the cursor they take it to, committed together.
public struct ProjectionCommit: Sendable {
    public var projector: String
    /// The generation written: the live one, or the one being rebuilt (live + 1).
    public var generation: Int64
    /// The cursor the batch starts after: the commit applies only if the stored cursor is still this.
    public var from: Int64
    /// The last event position of the batch.
    public var to: Int64
    public var operations: [ViewOperation]
    /// Checks a document as an operation leaves it (view, document) and gives it as it is to be stored (nil:
    /// the view has no schema). Called by the store in the commit's transaction; an error writes nothing.
    public var validate: (@Sendable (String, JSONValue) throws -> RawJSON?)?

    public init(
        projector: String, generation: Int64, from: Int64, to: Int64, operations: [ViewOperation],
        validate: (@Sendable (String, JSONValue) throws -> RawJSON?)? = nil
    ) {
        self.projector = projector
        self.generation = generation
        self.from = from
        self.to = to
        self.operations = operations
        self.validate = validate
    }

    /// A document's text as stored: validated when the view has a schema.
    public func stored(_ view: String, _ doc: JSONValue) throws -> String {
        if let validate, let checked = try validate(view, doc) { return checked.text }
        return doc.jsonText
    }
}

/// The projector's cursor was not where the batch started (another runner, or a rebuild, moved it): nothing
/// was written.
public struct ProjectionConflict: Error, Sendable, CustomStringConvertible {
    public var projector: String
    public var expected: Int64
    public var description: String { "projector \(projector) is no longer at position \(expected)" }
    public init(projector: String, expected: Int64) {
        self.projector = projector
        self.expected = expected
    }
}

/// Read models Evento keeps for projectors: views of JSON documents by key, in generations (a rebuild
/// writes the next generation while reads serve the current one, then swaps), and each projector's state.
///
/// A view belongs to the projector that first writes it; another projector writing it fails its batch.
public protocol ViewStore: Sendable {
    /// Applies a batch's operations to its generation and moves that generation's cursor from `from` to `to`,
    /// in one transaction (views are exactly-once however often a batch is computed). A projector
    /// without a state starts at generation 1, cursor 0.
    /// - Throws: `ProjectionConflict` (nothing written); `EventoError` `.conflict` when a view belongs to
    ///   another projector.
    func commitProjection(_ commit: ProjectionCommit) async throws
    func projectorState(_ name: String) async throws -> ProjectorState?
    func projectorStates() async throws -> [ProjectorState]
    /// Sets a projector's status and last error (created at generation 1, cursor 0 when it has no state),
    /// only while the projector is still where the caller saw it: at `track` (the generation it writes and
    /// its cursor there, `ProjectorState.track`; nil: wherever it is). A status decided on a batch that a
    /// rebuild or another instance has moved past is dropped, so a stale failure never parks a rebuild that
    /// began meanwhile, nor turns its `rebuilding` back into `running`.
    /// - Returns: whether it was written.
    @discardableResult
    func setProjectorStatus(_ name: String, status: ProjectorState.Status, lastError: String?, at track: (generation: Int64, cursor: Int64)?) async throws -> Bool
    /// Starts (or restarts) a rebuild: generation + 1 from position 0, emptied first.
    func beginRebuild(_ name: String) async throws -> ProjectorState
    /// Makes the rebuilt generation the live one for every view of the projector at once, and drops the
    /// old generation's documents.
    /// - Parameter rebuildCursor: where the caller saw the rebuild caught up; nothing changes (`ProjectionConflict`)
    ///   unless the rebuild is still there (a rebuild started again meanwhile, say, is not swapped in empty).
    func finishRebuild(_ name: String, at rebuildCursor: Int64) async throws
    /// A document of a view's live generation.
    func viewDocument(view: String, key: String) async throws -> ViewDocument?
    /// Documents whose keys start with `prefix`, after `after`, in key order.
    func viewDocuments(view: String, prefix: String, after: String?, limit: Int) async throws -> [ViewDocument]
    /// The documents under `keys` that exist, in the order asked.
    func viewDocuments(view: String, keys: [String]) async throws -> [ViewDocument]
}
