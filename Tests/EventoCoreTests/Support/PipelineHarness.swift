import EventoCore
import EventoStore
import Logging
import Synchronization
import Testing

/// An `Evento` on an in-memory store with fake functions, and ways to wait for what it does.
struct PipelineHarness {
    let store = RecordingStore()
    var memory: InMemoryStore { store.memory }
    let functions = FakeFunctions()
    let evento: Evento

    /// Small delays, so that retries take milliseconds.
    static let fast: CommandProcessor.Configuration = {
        var c = CommandProcessor.Configuration()
        c.baseBackoff = .milliseconds(2)
        c.maxBackoff = .milliseconds(10)
        return c
    }()

    static let quietLogger = Logger(label: "evento.test") { _ in SwiftLogNoOpLogHandler() }

    init(configuration: CommandProcessor.Configuration = fast, validator: any SchemaValidator = AcceptAllValidator()) {
        evento = Evento(
            store: store, functions: functions, validator: validator, ids: store.memory.idDerivation, configuration: configuration,
            views: store.memory, logger: Self.quietLogger)
    }

    /// Runs the pipeline (processor and dispatch relay) around `body`, and stops it afterwards.
    func running<T>(_ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await evento.run() }
            defer {
                evento.shutdown()
                group.cancelAll()
            }
            return try await body()
        }
    }

    /// The command's record once it is final (succeeded, failed, dead).
    func finished(_ id: String, within timeout: Duration = .seconds(30)) async throws -> CommandRecord {
        let memory = self.memory
        let outcome = await evento.processor.completions.wait(for: id, timeout: timeout) {
            guard let r = try? await memory.command(id: id), r.status.isFinal else { return nil }
            return CommandOutcome(record: r, events: nil)
        }
        // The log may have been written after the outcome was announced: read it back.
        guard outcome != nil, let record = try await memory.command(id: id), record.status.isFinal else {
            Issue.record("command \(id) did not finish within \(timeout)")
            throw CancellationError()
        }
        return record
    }
}

/// Polls `probe` until it gives a value (a few milliseconds apart), or records an issue at the deadline.
@discardableResult
func eventually<T>(_ what: String, within timeout: Duration = .seconds(30), _ probe: () async throws -> T?) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = try await probe() { return value }
        try await Task.sleep(for: .milliseconds(2))
    }
    Issue.record("\(what) did not happen within \(timeout)")
    throw CancellationError()
}

/// A gate a function waits at until the test opens it.
final class Gate: Sendable {
    private let state = Mutex<(isOpen: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let passNow = state.withLock { s in
                if s.isOpen { return true }
                s.waiting.append(c)
                return false
            }
            if passNow { c.resume() }
        }
    }

    func open() {
        let waiting = state.withLock { s in
            s.isOpen = true
            defer { s.waiting = [] }
            return s.waiting
        }
        for c in waiting { c.resume() }
    }
}

/// A value behind a lock that closures can share (a `Mutex` itself cannot be captured: it is not copyable).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    init(_ value: Value) { mutex = Mutex(value) }

    var value: Value { mutex.withLock { $0 } }

    func withLock<T: Sendable>(_ body: (inout Value) -> T) -> T { mutex.withLock { body(&$0) } }
}
