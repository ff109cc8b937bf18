import EventoCore
import EventoStore
import Synchronization

/// An in-memory store that records the writes made through it (those that succeeded, by method name), so
/// a test can tell how many writes the pipeline needed. Writes made on `memory` directly are not recorded.
final class RecordingStore: Evento.Storage {
    let memory: InMemoryStore
    private let log = Mutex<[String]>([])

    init(_ memory: InMemoryStore = InMemoryStore()) { self.memory = memory }

    /// The writes so far, in order.
    var writes: [String] { log.withLock { $0 } }

    private func recorded<T>(_ name: String, _ write: () async throws -> T) async throws -> T {
        let result = try await write()
        log.withLock { $0.append(name) }
        return result
    }

    // EventLog
    var commits: CommitSignal { memory.commits }
    func append(_ events: [NewEvent]) async throws -> AppendResult { try await recorded("append") { try await memory.append(events) } }
    func event(id: String) async throws -> EventEnvelope? { try await memory.event(id: id) }
    func events(entity: EntityId, fromSequence: Int64, limit: Int) async throws -> [EventEnvelope] {
        try await memory.events(entity: entity, fromSequence: fromSequence, limit: limit)
    }
    func events(afterPosition: Int64, limit: Int) async throws -> [EventEnvelope] { try await memory.events(afterPosition: afterPosition, limit: limit) }
    func version(of entity: EntityId) async throws -> Int64 { try await memory.version(of: entity) }
    func knownVersion(of entity: EntityId) -> Int64? { memory.knownVersion(of: entity) }
    func headPosition() async throws -> Int64 { try await memory.headPosition() }

    // CommandLog
    func submit(_ commands: [NewCommand]) async throws -> [CommandSubmission] { try await recorded("submit") { try await memory.submit(commands) } }
    func command(id: String) async throws -> CommandRecord? { try await memory.command(id: id) }
    func pendingCommands(afterSeq: Int64, limit: Int) async throws -> [(seq: Int64, record: CommandRecord)] {
        try await memory.pendingCommands(afterSeq: afterSeq, limit: limit)
    }
    func recordFailure(_ command: CommandRecord, status: CommandStatus, attempts: Int, error: String, fence: Fence?) async throws -> CommandRecord {
        try await recorded("recordFailure") { try await memory.recordFailure(command, status: status, attempts: attempts, error: error, fence: fence) }
    }
    func complete(_ completion: CommandCompletion) async throws -> CompletionResult {
        try await recorded("complete") { try await memory.complete(completion) }
    }
    func deadCommands(limit: Int) async throws -> [CommandRecord] { try await memory.deadCommands(limit: limit) }
    func revive(commandId: String) async throws -> CommandRecord? { try await recorded("revive") { try await memory.revive(commandId: commandId) } }

    // SnapshotStore
    func snapshot(of entity: EntityId) async throws -> Snapshot? { try await memory.snapshot(of: entity) }
    func save(_ snapshot: Snapshot) async throws { try await recorded("save") { try await memory.save(snapshot) } }

    // CursorStore
    func cursor(_ name: String) async throws -> Int64? { try await memory.cursor(name) }
    func setCursor(_ name: String, to position: Int64) async throws { try await recorded("setCursor") { try await memory.setCursor(name, to: position) } }
    func removeCursor(_ name: String) async throws { try await recorded("removeCursor") { try await memory.removeCursor(name) } }

    // DispatchLog
    func commit(_ dispatch: DispatchCommit) async throws -> [CommandRecord] { try await recorded("commit") { try await memory.commit(dispatch) } }
    func deadDispatches(limit: Int) async throws -> [DeadDispatch] { try await memory.deadDispatches(limit: limit) }
    func deadDispatch(id: String) async throws -> DeadDispatch? { try await memory.deadDispatch(id: id) }
    func removeDeadDispatch(id: String) async throws { try await recorded("removeDeadDispatch") { try await memory.removeDeadDispatch(id: id) } }

    // TraceIndex
    func traceItem(id: String) async throws -> TraceItem? { try await memory.traceItem(id: id) }
    func items(causedBy id: String, limit: Int) async throws -> [TraceItem] { try await memory.items(causedBy: id, limit: limit) }
}
