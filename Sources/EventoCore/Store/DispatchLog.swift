/// A dispatcher call that failed for good, parked until someone retries it.
public struct DeadDispatch: Sendable, Hashable {
    public var id: String
    public var dispatcher: String
    public var eventId: String
    public var attempts: Int
    public var lastError: String
    public var createdAt: Timestamp

    public init(id: String, dispatcher: String, eventId: String, attempts: Int, lastError: String, createdAt: Timestamp) {
        self.id = id
        self.dispatcher = dispatcher
        self.eventId = eventId
        self.attempts = attempts
        self.lastError = lastError
        self.createdAt = createdAt
    }
}

/// What one step of a dispatcher commits at once: the commands it derived, the dispatches it gave up on,
/// and its new cursor.
public struct DispatchCommit: Sendable {
    public var cursorName: String
    public var position: Int64
    public var commands: [NewCommand]
    public var deadDispatches: [DeadDispatch]

    public init(cursorName: String, position: Int64, commands: [NewCommand], deadDispatches: [DeadDispatch]) {
        self.cursorName = cursorName
        self.position = position
        self.commands = commands
        self.deadDispatches = deadDispatches
    }
}

/// What dispatching keeps: the commands dispatchers derive (committed with the dispatcher's cursor) and
/// the dispatches parked as dead letters.
public protocol DispatchLog: Sendable {
    /// Commits a dispatcher step; returns the commands that were new.
    func commit(_ dispatch: DispatchCommit) async throws -> [CommandRecord]
    func deadDispatches(limit: Int) async throws -> [DeadDispatch]
    func deadDispatch(id: String) async throws -> DeadDispatch?
    func removeDeadDispatch(id: String) async throws
}
