import CoreMetrics
import EventoCore
import EventoHTTP
import Foundation
import Logging
import Synchronization

/// A function deployed as `replicas` containers of an image, called over HTTP with the load spread across
/// the healthy replicas.
///
/// Containers carry labels (`io.evento.instance`, `io.evento.function`, `io.evento.spec`,
/// `io.evento.replica`, `io.evento.port`), so a restarted orchestrator finds them and adopts those that run
/// the same spec and answer `GET /healthz`; the rest are replaced. A supervisor checks each replica's
/// health every second; one that died or stopped answering is replaced, and the calls it failed are
/// retried on the other replicas (or on its replacement).
final class ContainerTransport: FunctionTransport {
    struct Replica: Sendable {
        var index: Int
        var id: String?
        var port: Int
        var healthy = false
        /// Consecutive failed health checks.
        var failures = 0
        var replacing = false
        var url: String { "http://127.0.0.1:\(port)/" }
    }

    private struct State {
        var replicas: [Replica] = []
        var next = 0
        var stopped = false
        var checkSoon = false
        var restarts = 0
    }

    let function: String
    let spec: ContainerSpec
    let engine: ContainerEngine
    let http: HTTPClient
    let logger: Logger
    /// A longer reply is not read past this size; the call fails (not retried).
    let maxReplyBytes: Int
    /// Identifies the spec: containers of another spec are replaced, not adopted.
    let specHash: String
    private let state = Mutex(State())
    private let supervisor = Mutex<Task<Void, Never>?>(nil)
    private let restartCounter: Counter

    init(
        function: String, spec: ContainerSpec, engine: ContainerEngine, http: HTTPClient,
        maxReplyBytes: Int = FunctionRegistry.defaultMaxReplyBytes, logger: Logger
    ) {
        self.function = function
        self.maxReplyBytes = maxReplyBytes
        self.spec = spec
        self.engine = engine
        self.http = http
        self.logger = logger
        self.specHash = String(Identifiers.sha256Hex(spec.json.jsonText.utf8).prefix(16))
        self.restartCounter = Counter(label: "evento_function_worker_restarts_total", dimensions: [("function", function)])
    }

    var labels: [String: String] {
        ["io.evento.managed": "true", "io.evento.instance": engine.instance, "io.evento.function": function]
    }

    /// The replicas as they are now (for `GET /functions/{name}`).
    var status: JSONValue {
        let (replicas, restarts) = state.withLock { s in (s.replicas, s.restarts) }
        return [
            "engine": .string(engine.name),
            "replicas": .array(
                replicas.map { r in
                    var o: JSONObject = ["index": .int(Int64(r.index)), "port": .int(Int64(r.port)), "healthy": .bool(r.healthy)]
                    if let id = r.id { o["container"] = .string(String(id.prefix(12))) }
                    return .object(o)
                }),
            "restarts": .int(Int64(restarts)),
        ]
    }

    /// Adopts the containers already running this spec, starts the missing replicas and waits until
    /// every replica answers GET /healthz. Then supervises them.
    /// - Throws: `EventoError` naming what failed (no such image, the engine refused, a replica exited or
    ///   stayed unhealthy); the containers it started are removed again.
    func start() async throws {
        defer { startSupervisor() }
        guard try await engine.imageExists(spec.image) else {
            state.withLock { s in
                s.replicas = (0..<spec.replicas).map { Replica(index: $0, port: 0) }
            }
            throw EventoError(
                .unknownReference,
                "image \(spec.image) is not on this host (Evento never pulls images): build it with `evento function build DIR` or `\(engine.name) build`",
                field: "transport.container.image")
        }
        let existing = try await engine.inspect(try await engine.containers(labelled: labels))
        var adopted: [Int: Replica] = [:]
        var stale: [String] = []
        for c in existing {
            guard c.running, c.labels["io.evento.spec"] == specHash, let i = c.labels["io.evento.replica"].flatMap(Int.init),
                i < spec.replicas, adopted[i] == nil, let port = c.labels["io.evento.port"].flatMap(Int.init),
                await healthy(port: port)
            else {
                stale.append(c.id)
                continue
            }
            adopted[i] = Replica(index: i, id: c.id, port: port, healthy: true)
        }
        await engine.remove(stale)
        if !adopted.isEmpty { logger.info("adopted \(adopted.count) running container(s) of \(function)") }
        state.withLock { s in
            s.replicas = (0..<spec.replicas).map { adopted[$0] ?? Replica(index: $0, port: 0) }
        }
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<spec.replicas where adopted[i] == nil {
                    group.addTask { try await self.launch(i) }
                }
                try await group.waitForAll()
            }
        } catch {
            await decommission(everySpec: false)
            throw error
        }
    }

    /// Starts replica `index` and waits until it is healthy.
    private func launch(_ index: Int) async throws {
        let port = try freeLocalPort()
        var environment = spec.environment
        var extra: [String] = []
        switch engine.network {
        case .host:
            environment["EVENTO_HTTP_PORT"] = String(port)
            environment["EVENTO_HTTP_HOST"] = "127.0.0.1"
            environment["PORT"] = String(port)
            extra += ["--network", "host"]
        case .bridge:
            environment["EVENTO_HTTP_PORT"] = String(spec.port)
            environment["EVENTO_HTTP_HOST"] = "0.0.0.0"
            extra += ["--publish", "127.0.0.1:\(port):\(spec.port)"]
        }
        environment["EVENTO_FUNCTION"] = function
        if let cpu = spec.cpu { extra += ["--cpus", String(cpu)] }
        if let memory = spec.memory { extra += ["--memory", memory] }
        var labels = self.labels
        labels["io.evento.spec"] = specHash
        labels["io.evento.replica"] = String(index)
        labels["io.evento.port"] = String(port)
        let name = "evento-\(engine.instance.prefix(8))-\(function)-\(specHash.prefix(6))-\(index)"
        // A container of that name left over (from a failed start, say) would make run fail.
        await engine.remove([name])
        let id = try await engine.start(name: name, image: spec.image, labels: labels, environment: environment, extra: extra)
        state.withLock { s in
            s.replicas[index].id = id
            s.replicas[index].port = port
            s.replicas[index].healthy = false
            s.replicas[index].failures = 0
        }
        let deadline = ContinuousClock.now + .milliseconds(spec.startTimeoutMs)
        var lastStateCheck = ContinuousClock.now
        while ContinuousClock.now < deadline {
            if await healthy(port: port) {
                state.withLock { s in
                    if s.replicas[index].id == id { s.replicas[index].healthy = true }
                }
                logger.info("container \(name) healthy on port \(port)")
                return
            }
            if ContinuousClock.now - lastStateCheck > .seconds(1) {
                lastStateCheck = .now
                if let c = try? await engine.inspect([id]).first, !c.running {
                    let log = await engine.logs(id)
                    throw EventoError(
                        .unavailable,
                        "replica \(index) of \(function) (\(spec.image)) exited with code \(c.exitCode) before it was healthy"
                            + (log.isEmpty ? "" : "; its last output:\n\(log)"),
                        field: "transport.container")
                }
            }
            // Cancellation (the transport stopping) ends the wait; the container is found by its labels.
            try await Task.sleep(for: .milliseconds(100))
        }
        let log = await engine.logs(id)
        throw EventoError(
            .unavailable,
            "replica \(index) of \(function) (\(spec.image)) did not answer GET /healthz on port \(port) within \(spec.startTimeoutMs) ms"
                + " (it must listen on $EVENTO_HTTP_PORT)" + (log.isEmpty ? "" : "; its last output:\n\(log)"),
            field: "transport.container")
    }

    private func healthy(port: Int) async -> Bool {
        guard
            let r = try? await http.execute(
                HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/healthz", headers: [], body: nil, timeout: .seconds(2)))
        else { return false }
        return (200..<300).contains(r.status)
    }

    // MARK: Calls

    func call(_ request: [UInt8], timeout: Duration) async throws -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
        var lastFailure = "no healthy replica"
        while ContinuousClock.now < deadline {
            guard let replica = pick() else {
                if state.withLock({ $0.stopped }) { break }
                try? await Task.sleep(for: .milliseconds(50))
                continue
            }
            let response: HTTPClientResponse
            do {
                response = try await http.execute(
                    HTTPClientRequest(
                        method: "POST", url: replica.url, headers: [("Content-Type", "application/json")], body: request,
                        timeout: deadline - ContinuousClock.now, maxResponseBytes: maxReplyBytes))
            } catch let e as HTTPClientError {
                if e.kind == .timeout || e.kind == .responseTooLarge {
                    throw e.functionCallError(function: function, url: replica.url, timeout: timeout, maxReplyBytes: maxReplyBytes)
                }
                // The replica is gone or going: take it out of rotation, have it checked now, try another.
                lastFailure = "replica \(replica.index): \(e.message)"
                markSuspect(replica)
                continue
            }
            guard (200..<300).contains(response.status) else {
                throw FunctionProtocol.httpFailure(status: response.status, body: response.body, function: function)
            }
            return response.body
        }
        throw FunctionCallError(function: function, message: "no reply within \(timeout): \(lastFailure)", retryable: true, reason: .unavailable)
    }

    /// The next healthy replica, round robin.
    private func pick() -> Replica? {
        state.withLock { s in
            let n = s.replicas.count
            for k in 0..<n {
                let r = s.replicas[(s.next + k) % n]
                if r.healthy {
                    s.next = (s.next + k + 1) % n
                    return r
                }
            }
            return nil
        }
    }

    private func markSuspect(_ replica: Replica) {
        state.withLock { s in
            guard replica.index < s.replicas.count, s.replicas[replica.index].id == replica.id else { return }
            s.replicas[replica.index].healthy = false
            s.checkSoon = true
        }
    }

    // MARK: Supervision

    /// Starts the supervisor: one task that checks the replicas and, as its own child tasks, replaces
    /// the ones that died. Stopping it (`shutdown`) waits for the replacements in progress too, so no
    /// replacement outlives a DELETE or a server shutdown.
    private func startSupervisor() {
        let task = Task { [weak self] in
            await withDiscardingTaskGroup { group in
                var lastRound = ContinuousClock.now
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(100))
                    guard let self, !self.state.withLock({ $0.stopped }) else { break }
                    let due = self.state.withLock { s -> Bool in
                        let soon = s.checkSoon
                        s.checkSoon = false
                        return soon
                    }
                    if due || ContinuousClock.now - lastRound >= self.engine.healthInterval {
                        lastRound = .now
                        for r in await self.checkReplicas() where self.claimReplacement(r) {
                            group.addTask { await self.replace(r) }
                        }
                    }
                }
                group.cancelAll()
            }
        }
        let stopped = supervisor.withLock { current -> Bool in
            if state.withLock({ $0.stopped }) { return true }
            current = task
            return false
        }
        if stopped { task.cancel() }
    }

    /// Checks every replica; returns those to replace (not running, or three failed checks in a row).
    private func checkReplicas() async -> [Replica] {
        let replicas = state.withLock { s in s.stopped ? [] : s.replicas.filter { !$0.replacing } }
        var toReplace: [Replica] = []
        for r in replicas {
            let ok = r.id != nil && r.port > 0 ? await healthy(port: r.port) : false
            if ok {
                state.withLock { s in
                    if s.replicas[r.index].id == r.id {
                        s.replicas[r.index].healthy = true
                        s.replicas[r.index].failures = 0
                    }
                }
                continue
            }
            let failures = state.withLock { s -> Int in
                guard s.replicas[r.index].id == r.id else { return 0 }
                s.replicas[r.index].healthy = false
                s.replicas[r.index].failures += 1
                return s.replicas[r.index].failures
            }
            if let id = r.id {
                let running = (try? await engine.inspect([id]).first?.running) ?? false
                if !running || failures >= 3 { toReplace.append(r) }
            } else {
                toReplace.append(r)
            }
        }
        return toReplace
    }

    /// Marks a replica as being replaced; false when it already is, or the transport is stopping.
    private func claimReplacement(_ r: Replica) -> Bool {
        let go = state.withLock { s -> Bool in
            guard !s.stopped, !s.replicas[r.index].replacing else { return false }
            s.replicas[r.index].replacing = true
            s.replicas[r.index].healthy = false
            s.restarts += 1
            return true
        }
        if go { restartCounter.increment() }
        return go
    }

    /// Replaces a replica, retrying with backoff until it works or the transport stops. A container that
    /// starts after the stop is removed again.
    private func replace(_ r: Replica) async {
        var backoff: Duration = .milliseconds(500)
        while !Task.isCancelled && !state.withLock({ $0.stopped }) {
            if let id = r.id { logger.warning("replacing replica \(r.index) of \(function) (container \(id.prefix(12)))") }
            if let id = state.withLock({ $0.replicas[r.index].id }) { await engine.remove([id]) }
            do {
                try await launch(r.index)
                break
            } catch {
                logger.error("cannot restart replica \(r.index) of \(function): \(error)")
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(30))
            }
        }
        state.withLock { $0.replicas[r.index].replacing = false }
    }

    // MARK: Stopping

    /// Server shutdown: stops supervising (and waits for replacements in progress) and leaves the
    /// containers running for the next start to adopt.
    func shutdown(callGrace: Duration?) async {
        state.withLock { $0.stopped = true }
        let task = supervisor.withLock { $0 }
        task?.cancel()
        await task?.value
    }

    /// Removes the containers: of this spec (the function was replaced by another spec), or all of the
    /// function's (`everySpec`: the function was deleted).
    func decommission(everySpec: Bool) async {
        await shutdown()
        let known = state.withLock { s in s.replicas.compactMap(\.id) }
        var filter = labels
        if !everySpec { filter["io.evento.spec"] = specHash }
        let labelled = (try? await engine.containers(labelled: filter)) ?? []
        await engine.remove(Array(Set(known + labelled)))
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
public func freeLocalPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw EventoError(.unavailable, "cannot open a socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok else { throw EventoError(.unavailable, "cannot find a free port: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: addr.sin_port))
}
