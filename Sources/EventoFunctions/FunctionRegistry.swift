import CoreMetrics
import EventoCore
import EventoHTTP
import Logging
import Synchronization

/// The registered functions and their running transports.
///
/// Registrations are persisted in the store, so a restart brings them back (and restarts their workers).
/// One handler and one aggregator per aggregate; any number of dispatchers.
public final class FunctionRegistry: FunctionDirectory, Sendable {
    struct Entry {
        var definition: FunctionDefinition
        var transport: any FunctionTransport
        var metrics: EventoMetrics.FunctionCalls
        /// Calls in flight through `transport`: a replaced transport is stopped once they are done.
        let inFlight = CallCount()
    }

    /// Calls in flight through one transport. Taken under the registry's lock, so that a swap of the entry
    /// sends every later call to the new transport and leaves the old one only calls that started before.
    final class CallCount: Sendable {
        private let count = Atomic<Int>(0)
        func enter() { count.add(1, ordering: .relaxed) }
        func leave() { count.subtract(1, ordering: .relaxed) }
        var value: Int { count.load(ordering: .relaxed) }
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var handlers: [String: FunctionDefinition] = [:]
        var aggregators: [String: FunctionDefinition] = [:]
        var dispatchers: [FunctionDefinition] = []
        var projectors: [FunctionDefinition] = []

        mutating func reindex() {
            handlers = [:]
            aggregators = [:]
            dispatchers = []
            projectors = []
            for e in entries.values.sorted(by: { $0.definition.name < $1.definition.name }) {
                switch e.definition.kind {
                case .handler: handlers[e.definition.aggregate!] = e.definition
                case .aggregator: aggregators[e.definition.aggregate!] = e.definition
                case .dispatcher: dispatchers.append(e.definition)
                case .projector: projectors.append(e.definition)
                case .query: break
                }
            }
        }
    }

    private let state = Mutex(State())
    /// Serialises registrations and removals (they start and stop processes).
    private let changes = AsyncLock()
    /// Replaced transports still draining, by function name: a registration of that name waits for its
    /// predecessor's drain first (put back meanwhile, a container deployment would adopt the very
    /// containers the drain is about to remove). Other names do not wait.
    private let draining = Mutex<[String: Task<Void, Never>]>([:])
    public typealias Store = FunctionCatalogue & CursorStore & EventLog

    let store: any Store
    let http: HTTPClient
    let logger: Logger
    /// How container functions are deployed.
    public let containers: ContainerEngine
    /// The largest reply accepted from a function (a worker's stdout line, an HTTP or container response
    /// body). A larger one fails the call, not retried, and a worker that sent it is replaced.
    public let maxReplyBytes: Int

    /// What `maxReplyBytes` is unless configured: 16 MiB, far above any sane list of events or state, far
    /// below what hurts the server.
    public static let defaultMaxReplyBytes = 16 * 1024 * 1024

    public init(
        store: any Store, http: HTTPClient, containers: ContainerEngine, maxReplyBytes: Int = FunctionRegistry.defaultMaxReplyBytes,
        logger: Logger
    ) {
        self.store = store
        self.http = http
        self.containers = containers
        self.maxReplyBytes = maxReplyBytes
        self.logger = logger
    }

    /// Starts the transports of the stored registrations. A function whose workers cannot start stays
    /// registered (its calls fail and are retried) and the problem is logged.
    public func loadPersisted() async throws {
        for (name, json) in try await store.functionDefinitions() {
            do {
                let definition = try FunctionDefinition.parse(try json.value()).normalized()
                let transport = try await makeTransport(definition, verify: false)  // containers: adopted or restarted
                state.withLock { s in
                    s.entries[name] = Entry(definition: definition, transport: transport, metrics: Self.metrics(definition))
                    s.reindex()
                }
            } catch {
                logger.error("cannot start stored function \(name): \(error)")
            }
        }
    }

    /// Brings the running functions in line with the store after another instance of a cluster registered,
    /// replaced or removed some: starts the new ones, restarts the changed ones, stops the removed ones.
    public func syncPersisted() async throws {
        try await changes.withLock {
            // Read under the lock: a registration here in between is in what is read.
            let stored = try await store.functionDefinitions()
            var names = Set<String>()
            for (name, json) in stored {
                names.insert(name)
                do {
                    let definition = try FunctionDefinition.parse(try json.value()).normalized()
                    let existing = state.withLock { $0.entries[name] }
                    if let existing, existing.definition.json == definition.json { continue }
                    await drainEnded(of: name)
                    let transport = try await makeTransport(definition, verify: false)
                    state.withLock { s in
                        s.entries[name] = Entry(definition: definition, transport: transport, metrics: Self.metrics(definition))
                        s.reindex()
                    }
                    if let existing {
                        // Drained in the background, as for a replacement here (the sync goes on meanwhile).
                        _ = startDrain(existing, replacedBy: definition)
                        logger.info("function replaced by another instance restarted here", metadata: ["evento.function": "\(name)"])
                    } else {
                        logger.info("function registered by another instance started here", metadata: ["evento.function": "\(name)"])
                    }
                } catch {
                    logger.error("cannot start function \(name) registered by another instance: \(error)")
                }
            }
            let removed = state.withLock { s -> [Entry] in
                let gone = s.entries.keys.filter { !names.contains($0) }
                let entries = gone.compactMap { s.entries.removeValue(forKey: $0) }
                s.reindex()
                return entries
            }
            for entry in removed {
                await entry.transport.decommission(everySpec: true)
                logger.info("function removed by another instance stopped here", metadata: ["evento.function": "\(entry.definition.name)"])
            }
        }
    }

    /// Registers a function: starts its transport, persists it, then routes to it.
    /// - Parameter replace: replace a registration of the same name instead of refusing it (see `put`).
    /// - Returns: the definition as registered (its transport's defaults filled in).
    @discardableResult
    public func register(_ definition: FunctionDefinition, replace: Bool = false) async throws -> FunctionDefinition {
        try await install(definition, replace: replace).definition
    }

    /// Registers a function, or replaces the registration of the same name without failing a call
    /// (`PUT /functions/{name}`): the new transport is started and checked first, then every new call goes
    /// to it, and the old workers or replicas stop once the calls they were given have finished.
    /// - Returns: the definition as registered, and whether there was none of that name before.
    public func put(_ definition: FunctionDefinition) async throws -> (definition: FunctionDefinition, created: Bool) {
        try await install(definition, replace: true)
    }

    private func install(_ definition: FunctionDefinition, replace: Bool) async throws -> (definition: FunctionDefinition, created: Bool) {
        // The transport's own spec is checked here (a container spec is EventoFunctions' business), before
        // anything is started or stored, and stored with its defaults filled in.
        let definition = try definition.normalized()
        let (created, drain) = try await changes.withLock { () async throws -> (Bool, Task<Void, Never>?) in
            await drainEnded(of: definition.name)
            let existing = state.withLock { $0.entries[definition.name] }
            if existing != nil && !replace {
                throw EventoError(.conflict, "a function named \(definition.name) is already registered; DELETE /functions/\(definition.name) first")
            }
            if let aggregate = definition.aggregate, definition.kind == .handler || definition.kind == .aggregator {
                let other = state.withLock { s in
                    definition.kind == .handler ? s.handlers[aggregate] : s.aggregators[aggregate]
                }
                if let other, other.name != definition.name {
                    throw EventoError(
                        .conflict, "aggregate \(aggregate) already has a \(definition.kind.rawValue), \(other.name); an aggregate has one",
                        field: "aggregate")
                }
            }
            let transport = try await makeTransport(definition, verify: true)
            do {
                if definition.kind == .dispatcher {
                    // A new dispatcher starts with the events committed from now on (its cursor is set before
                    // it is routed to, so an event committed in between is not missed); a replaced one keeps
                    // its cursor.
                    let cursor = DispatchRelay.cursorName(definition.name)
                    if try await store.cursor(cursor) == nil { try await store.setCursor(cursor, to: try await store.headPosition()) }
                }
                try await store.saveFunction(name: definition.name, definition: RawJSON(definition.json))
            } catch {
                if existing == nil { await transport.decommission(everySpec: false) } else { await transport.shutdown() }
                throw error
            }
            state.withLock { s in
                s.entries[definition.name] = Entry(definition: definition, transport: transport, metrics: Self.metrics(definition))
                s.reindex()
            }
            logger.info(
                existing == nil ? "function registered" : "function replaced",
                metadata: ["evento.function": "\(definition.name)", "kind": "\(definition.kind.rawValue)"])
            // Started here, waited for outside the lock: draining the old transport takes as long as its calls
            // in flight (up to four timeouts), and registrations of other names need not wait for it.
            return (existing == nil, existing.map { startDrain($0, replacedBy: definition) })
        }
        await drain?.value
        return (definition, created)
    }

    /// Retires a replaced transport in a task of its own, listed in `draining` until it is done.
    private func startDrain(_ old: Entry, replacedBy new: FunctionDefinition) -> Task<Void, Never> {
        let name = new.name
        let drain = Task { await self.retire(old, replacedBy: new) }
        draining.withLock { $0[name] = drain }
        Task { [weak self] in
            await drain.value
            self?.draining.withLock { if $0[name] == drain { $0[name] = nil } }
        }
        return drain
    }

    /// Waits until the drain of the function's replaced transport, if one is under way, has ended.
    private func drainEnded(of name: String) async {
        if let drain = draining.withLock({ $0[name] }) { await drain.value }
    }

    /// Stops the transport of a replaced registration once the calls it was given are done (new calls go to
    /// the new transport already), so that a replacement fails no call. The wait is bounded: a call takes
    /// at most its timeout to get a worker and its timeout to answer, and is retried once on another worker.
    private func retire(_ old: Entry, replacedBy new: FunctionDefinition) async {
        let limit = ContinuousClock.now + .milliseconds(old.definition.timeoutMs) * 4 + .seconds(1)
        while old.inFlight.value > 0 && ContinuousClock.now < limit {
            do { try await Task.sleep(for: .milliseconds(10)) } catch { break }
        }
        // Same deployment: the new transport adopted its containers; another: the old ones go.
        if old.definition.transport == new.transport {
            await old.transport.shutdown()
        } else {
            await old.transport.decommission(everySpec: false)
        }
    }

    /// Unregisters a function and stops its workers. Returns false when there was none.
    public func remove(_ name: String) async throws -> Bool {
        try await changes.withLock {
            let deleted = try await store.deleteFunction(name: name)
            try await store.removeCursor(DispatchRelay.cursorName(name))
            let entry = state.withLock { s -> Entry? in
                let e = s.entries.removeValue(forKey: name)
                s.reindex()
                return e
            }
            if let entry { await entry.transport.decommission(everySpec: true) }
            return deleted || entry != nil
        }
    }

    public func list() -> [FunctionDefinition] {
        state.withLock { $0.entries.values.map(\.definition).sorted { $0.name < $1.name } }
    }

    /// How a function's transport is doing: for process functions, the live worker pids, the restarts and
    /// whether missing workers are being respawned (`"respawning"`, `"lastSpawnError"`).
    public func status(of name: String) -> JSONValue? {
        var transport = state.withLock { $0.entries[name]?.transport }
        if let batching = transport as? BatchingTransport { transport = batching.inner }
        if let containers = transport as? ContainerTransport { return containers.status }
        guard let pool = transport as? ProcessPool else { return nil }
        return pool.status
    }

    /// Stops every transport (server shutdown). `callGrace`: how long a worker in the middle of a call
    /// gets to finish it after end-of-file before it is signalled (nil: the transport's own, 2 s for a
    /// process pool); a shutdown that already gave calls their time passes less.
    public func shutdown(callGrace: Duration? = nil) async {
        // Replaced transports still draining stop now too (the drain ends early when cancelled).
        let drains = draining.withLock { d in Array(d.values) }
        for drain in drains { drain.cancel() }
        let transports = state.withLock { s in s.entries.values.map(\.transport) }
        // Together: each gives its workers time to exit after end-of-file.
        await withDiscardingTaskGroup { group in
            for t in transports { group.addTask { await t.shutdown(callGrace: callGrace) } }
            for drain in drains { group.addTask { await drain.value } }
        }
    }

    private func makeTransport(_ d: FunctionDefinition, verify: Bool) async throws -> any FunctionTransport {
        try await Self.makeTransport(d, verify: verify, http: http, containers: containers, maxReplyBytes: maxReplyBytes, logger: logger)
    }

    static func makeTransport(
        _ d: FunctionDefinition, verify: Bool, http: HTTPClient, containers: ContainerEngine?, maxReplyBytes: Int, logger: Logger
    ) async throws -> any FunctionTransport {
        let transport = try await makeBareTransport(
            d, verify: verify, http: http, containers: containers, maxReplyBytes: maxReplyBytes, logger: logger)
        guard d.maxBatch > 1 else { return transport }
        let slots: Int
        switch d.transport {
        case .process(_, let workers, _, _): slots = workers
        case .http: slots = 16
        case .container: slots = 8 * ((try? d.containerSpec())??.replicas ?? 1)
        }
        return BatchingTransport(inner: transport, function: d.name, maxBatch: d.maxBatch, slots: slots)
    }

    static func makeBareTransport(
        _ d: FunctionDefinition, verify: Bool, http: HTTPClient, containers: ContainerEngine?, maxReplyBytes: Int, logger: Logger
    ) async throws -> any FunctionTransport {
        var log = logger
        log[metadataKey: "evento.function"] = "\(d.name)"
        switch d.transport {
        case .http(let url):
            return HTTPTransport(function: d.name, url: url, client: http, maxReplyBytes: maxReplyBytes)
        case .process(let command, let workers, let environment, let cwd):
            let pool = ProcessPool(
                function: d.name, command: command, workers: workers, environment: environment, workingDirectory: cwd,
                maxReplyBytes: maxReplyBytes, logger: log)
            // Without verify (stored registrations at start), workers that cannot start now are respawned
            // with backoff instead of leaving the function without workers for good.
            try await pool.start(verify: verify)
            return pool
        case .container(let object):
            let spec = try ContainerSpec.parse(object)
            guard let containers else {
                throw EventoError(.unavailable, "no container engine is configured", field: "transport.container")
            }
            let transport = ContainerTransport(
                function: d.name, spec: spec, engine: containers, http: http, maxReplyBytes: maxReplyBytes, logger: log)
            if verify {
                try await transport.start()
            } else {
                do { try await transport.start() } catch { logger.error("function \(d.name): \(error); its replicas will be retried") }
            }
            return transport
        }
    }

    // MARK: FunctionDirectory

    public func handler(for aggregate: String) -> FunctionDefinition? { state.withLock { $0.handlers[aggregate] } }
    public func aggregator(for aggregate: String) -> FunctionDefinition? { state.withLock { $0.aggregators[aggregate] } }
    public func dispatchers() -> [FunctionDefinition] { state.withLock { $0.dispatchers } }
    public func projectors() -> [FunctionDefinition] { state.withLock { $0.projectors } }
    public func function(named name: String) -> FunctionDefinition? { state.withLock { $0.entries[name]?.definition } }

    public func invoke(_ function: FunctionDefinition, request: [UInt8]) async throws -> [UInt8] {
        let entry = state.withLock { s -> Entry? in
            let entry = s.entries[function.name]
            entry?.inFlight.enter()
            return entry
        }
        guard let entry else {
            throw FunctionCallError(function: function.name, message: "is no longer registered", retryable: true, reason: .unavailable)
        }
        defer { entry.inFlight.leave() }
        let started = ContinuousClock.now
        do {
            let reply = try await entry.transport.call(request, timeout: .milliseconds(function.timeoutMs))
            entry.metrics.duration.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            entry.metrics.ok.increment()
            return reply
        } catch let e as FunctionCallError {
            entry.metrics.duration.recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            (e.isTimeout ? entry.metrics.timeout : entry.metrics.error).increment()
            throw e
        }
    }

    static func metrics(_ d: FunctionDefinition) -> EventoMetrics.FunctionCalls {
        switch d.transport {
        case .http: EventoMetrics.FunctionCalls(function: d.name, transport: "http")
        case .process: EventoMetrics.FunctionCalls(function: d.name, transport: "process")
        case .container: EventoMetrics.FunctionCalls(function: d.name, transport: "container")
        }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}

/// A function's transport on its own, without a registry or a store: what `evento bench` uses to measure
/// the bare call rate of a transport.
public struct FunctionCaller: Sendable {
    let transport: any FunctionTransport
    public let definition: FunctionDefinition

    /// Starts the function's transport (worker processes for `process`).
    public static func start(
        _ definition: FunctionDefinition, http: HTTPClient, maxReplyBytes: Int = FunctionRegistry.defaultMaxReplyBytes, logger: Logger
    ) async throws -> FunctionCaller {
        FunctionCaller(
            transport: try await FunctionRegistry.makeTransport(
                definition, verify: true, http: http, containers: nil, maxReplyBytes: maxReplyBytes, logger: logger),
            definition: definition)
    }

    public func call(_ request: [UInt8]) async throws -> [UInt8] {
        try await transport.call(request, timeout: .milliseconds(definition.timeoutMs))
    }

    public func stop() async { await transport.shutdown() }
}
