import EventoAvro
import EventoCore
import EventoFunctions
import EventoHTTP
import EventoKafka
import EventoPostgres
import EventoStore
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Everything `evento serve` can be told.
public struct ServerConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    /// 0 picks a free port (the ready line says which).
    public var port: Int = 8080
    public var dataDirectory: String = "data"
    /// Largest request body accepted, in bytes.
    public var maxBodyBytes: Int = 4 * 1024 * 1024
    /// Largest answer of a listing (events, a trace, dead letters), in bytes: a page ends early, with at
    /// least one item, and says where to continue.
    public var maxResponseBytes: Int = 16 * 1024 * 1024
    /// A connection that sends nothing for this long (no request, or a request head or body that stalls)
    /// is closed. A request being answered (a long poll) is not idle.
    public var idleTimeout: Duration = .seconds(15)
    /// A request body must have arrived this long after its head, or the answer is a 408.
    public var bodyTimeout: Duration = .seconds(30)
    /// Most client connections at once; nil: the descriptor limit less a reserve (`ConnectionLimit`).
    public var maxConnections: Int?
    /// Origins (`https://ui.example:3000`) whose browser requests are accepted, with CORS; `*` for any.
    public var allowedOrigins: [String] = []
    /// `Host` names (`name` or `name:port`) accepted; nil: the bound address (see `AccessPolicy`).
    public var allowedHosts: [String]?
    /// fsync every commit (`synchronous=FULL`); off trades the last commits on power loss for speed.
    public var durable: Bool = true
    /// SQLite: bytes of frames the WAL may hold before it starts over (`--max-wal-bytes`).
    public var maxWALBytes: Int = SQLiteEventStore.Configuration(dataDirectory: "").walLimitBytes
    public var logLevel: Logger.Level = .info
    /// One token of the `admin` scope (`EVENTO_ADMIN_TOKEN`), added to `tokens`.
    public var adminToken: String?
    /// Bearer tokens and their scopes (`EVENTO_TOKENS`, `--tokens-file`). With any token (this or
    /// `adminToken`) every route but health, metrics, the OpenAPI document and the console's page needs one
    /// (`AccessScope`); without any, the server binds loopback only.
    public var tokens = AccessTokens()
    /// JWTs signed with HS256 under this secret are accepted beside `tokens` (`JWTVerifier`).
    public var jwt: JWTVerifier.Configuration?
    /// The folder process functions' programs must lie in; nil: anywhere (`ProcessDirectory`).
    public var processDirectory: String?
    /// A JSON file of function definitions registered (or replaced) at start.
    public var functionsFile: String?
    /// A folder of `AGGREGATE.avsc` files registered at start (missing: none).
    public var schemasDirectory: String = "schemas"
    /// Accept events and commands of aggregates that have no schema (unvalidated).
    public var allowSchemaless = false
    public var processor = CommandProcessor.Configuration()
    /// The largest reply accepted from a function (a worker's line, an HTTP response body).
    public var maxReplyBytes = FunctionRegistry.defaultMaxReplyBytes
    /// Publish every committed event to Kafka; nil runs without Kafka (events wait in the outbox).
    public var kafka: KafkaRelay.Configuration?
    /// The engine container functions are deployed with; nil: detected (`ContainerEngine.detect`).
    public var containerEngine: [String]?
    /// Extra flags of every container run; nil: the engine's defaults.
    public var containerRunFlags: [String]?
    public var containerNetwork: ContainerEngine.Network?
    /// The store: nil keeps SQLite in `dataDirectory` (the embedded default); a `postgres://` URL uses
    /// PostgreSQL, and every instance on one database forms a cluster.
    public var storeURL: String?
    /// Connections of the PostgreSQL pool.
    public var storePoolSize = 10
    /// Partitions of a new PostgreSQL store (an existing one keeps its own).
    public var partitions = 64
    /// This instance in a cluster: its id (nil: made at each start) and the URL others reach it at
    /// (nil: http://HOST:PORT as bound).
    public var instanceId: String?
    public var advertiseURL: String?
    /// How long a partition lease lasts without renewal (the failover bound is about this plus a second).
    public var leaseTTL: Duration = .seconds(5)
    /// Export spans over OTLP/HTTP (`OTEL_EXPORTER_OTLP_ENDPOINT` and the other standard variables); nil: no
    /// spans are recorded.
    public var tracing: OTLPTraceExporter.Configuration?

    public init() {}

    /// The container engine, with this server's instance label (a hash of its data directory, so servers
    /// with different data directories on one host leave each other's containers alone).
    func makeContainerEngine() -> ContainerEngine {
        var path = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        // Instances of a cluster on one host share no data directory: each keeps its own containers.
        if storeURL != nil { path += "|" + (advertiseURL ?? "\(host):\(port)") }
        let instance = String(Identifiers.sha256Hex(path.utf8).prefix(12))
        var engine = ContainerEngine.detect(instance: instance)
        if let containerEngine, !containerEngine.isEmpty {
            engine.command = containerEngine
            engine.runFlags = ContainerEngine.defaultRunFlags(containerEngine)
        }
        if let containerRunFlags { engine.runFlags = containerRunFlags }
        if let containerNetwork { engine.network = containerNetwork }
        return engine
    }
}

/// Builds the Evento application: the store, the pipeline's services and the HTTP routes. `evento serve`
/// and the tests both go through here.
public func buildApplication(
    _ config: ServerConfiguration,
    onReady: @escaping @Sendable (_ host: String, _ port: Int) -> Void = { _, _ in }
) async throws -> some ApplicationProtocol {
    var logger = Logger(label: "evento")
    logger.logLevel = config.logLevel
    var tokens = config.tokens
    if let admin = config.adminToken { try tokens.add(admin, scope: .admin, source: "EVENTO_ADMIN_TOKEN") }
    let jwt = try config.jwt.map { c throws(EventoError) in try JWTVerifier(c) }
    if !NetworkAddress.isLoopback(config.host) && tokens.isEmpty && jwt == nil {
        throw EventoError(
            .forbidden,
            "refusing to bind \(config.host) without an admin token or access tokens: registering a function runs code on this host. Set EVENTO_ADMIN_TOKEN or EVENTO_TOKENS (or bind 127.0.0.1)."
        )
    }
    if !tokens.isEmpty || jwt != nil {
        logger.info(
            "access tokens: \(tokens.summary)\(jwt == nil ? "" : ", and JWTs (HS256)"); every route but /healthz, /metrics, /openapi.json and /ui needs one")
        // Process workers inherit the environment (EVENTO_URL above all); the operator's tokens are not in it
        // (`evento serve` removes them), and a query reads views with a read token of its own, made at each start.
        let workerToken = Identifiers.hex(Identifiers.randomBytes(32))
        try tokens.add(workerToken, scope: .read, source: "the functions' read token (EVENTO_TOKEN)")
        WorkerEnvironment.set("EVENTO_TOKEN", workerToken)
    }
    let processDirectory = try config.processDirectory.map { try ProcessDirectory($0) }
    let (store, clusterStore) = try await openStorage(config, logger: logger)
    let http = HTTPClient()
    let registry = FunctionRegistry(
        store: store, http: http, containers: config.makeContainerEngine(), maxReplyBytes: config.maxReplyBytes, logger: logger)
    let schemas = SchemaRegistry(store: store, allowSchemaless: config.allowSchemaless, logger: logger)
    let cluster = clusterStore.map { clusterStore in
        var c = ClusterCoordinator.Configuration(
            instanceId: config.instanceId ?? "\(ProcessInfo.processInfo.hostName)-\(config.port)-\(Identifiers.uuidV7().suffix(6))",
            address: config.advertiseURL ?? "http://\(config.host):\(config.port)")
        c.leaseTTL = config.leaseTTL
        c.relays = [Evento.dispatchRelayLease, Evento.projectorsLease] + (config.kafka != nil ? [KafkaService.lease] : [])
        return ClusterCoordinator(store: clusterStore, configuration: c, logger: logger)
    }
    let evento = Evento(
        store: store, functions: registry, validator: schemas, ids: store.idDerivation, configuration: config.processor, cluster: cluster,
        views: store as? any ViewStore, logger: logger)
    let address = ServerAddress(config.advertiseURL ?? "http://127.0.0.1:\(config.port)")
    // Process workers inherit the environment: EVENTO_URL tells them (queries above all) where to read views,
    // unless the operator set it. Set before any worker starts.
    if config.port != 0 || config.advertiseURL != nil { WorkerEnvironment.set("EVENTO_URL", address.value, overwrite: false) }
    let processor = evento.processor
    let kafka = config.kafka.map { KafkaRelay(store: store, schemas: schemas, configuration: $0, logger: logger) }

    do {
        let logger = logger
        @Sendable func startUp() async throws {
            try await schemas.load()
            try await loadSchemas(directory: config.schemasDirectory, into: schemas, logger: logger)
            try await registry.loadPersisted()
            if let file = config.functionsFile { try await loadFunctions(file: file, into: registry, processDirectory: processDirectory) }
        }
        // Instances of a cluster starting together register their files one after the other.
        if let clusterStore { try await clusterStore.exclusively(startUp) } else { try await startUp() }
        // Registered before --process-dir was set (or by an instance without it): they keep running, loudly.
        for f in registry.list() {
            if let refusal = processDirectory?.refusal(f) { logger.warning("function \(f.name): \(refusal.message); replace or remove it") }
        }
    } catch {
        await registry.shutdown()
        await store.close()
        throw error
    }

    let exporter = config.tracing.map { OTLPTraceExporter(configuration: $0, logger: Logger(label: "evento.tracing")) }
    EventoTracing.bootstrap(exporter, sampler: exporter?.configuration.sampler ?? .alwaysOn)
    if let exporter { logger.info("exporting spans over OTLP/HTTP", metadata: ["endpoint": "\(exporter.configuration.endpoint)"]) }

    let router = Router(context: EventoRequestContext.self)
    // Outermost: it sees the final status of every request, problems included.
    router.add(middleware: MetricsMiddleware())
    // The request's span, around everything else (its status is the one the client gets).
    router.add(middleware: TracingMiddleware())
    // The body first, within its size and time (so that no answer leaves a body to trickle in), then who may
    // send the request (Host, Origin; CORS for listed origins), the token and its scope, the body's type, and
    // with --process-dir the program a function registration names.
    router.add(middleware: RequestBodyMiddleware(maxBytes: config.maxBodyBytes, timeout: config.bodyTimeout))
    router.add(
        middleware: AccessMiddleware(
            policy: AccessPolicy(
                bindHost: config.host, hasToken: !tokens.isEmpty, allowedHosts: config.allowedHosts,
                allowedOrigins: config.allowedOrigins)))
    let routeTable = RouteTable()
    router.add(middleware: ProblemMiddleware(routes: routeTable))
    router.add(middleware: TokenAuthMiddleware(auth: TokenAuth(tokens: tokens, jwt: jwt)))
    router.add(middleware: ContentTypeMiddleware())
    if let processDirectory { router.add(middleware: ProcessDirectoryMiddleware(directory: processDirectory, maxBodyBytes: config.maxBodyBytes)) }
    EventRoutes(
        evento: evento, store: store, commits: store.commits, schemas: schemas, maxBodyBytes: config.maxBodyBytes,
        maxResponseBytes: config.maxResponseBytes
    ).register(on: router)
    SchemaRoutes(registry: schemas, maxBodyBytes: config.maxBodyBytes).register(on: router)
    TraceRoutes(evento: evento, maxResponseBytes: config.maxResponseBytes).register(on: router)
    FunctionRoutes(registry: registry, maxBodyBytes: config.maxBodyBytes).register(on: router)
    CommandRoutes(
        evento: evento, maxBodyBytes: config.maxBodyBytes, maxResponseBytes: config.maxResponseBytes, http: cluster == nil ? nil : http
    ).register(on: router)
    DeadLetterRoutes(evento: evento, maxResponseBytes: config.maxResponseBytes).register(on: router)
    KafkaRoutes(relay: kafka, store: store, maxBodyBytes: config.maxBodyBytes, cluster: cluster).register(on: router)
    ClusterRoutes(cluster: cluster).register(on: router)
    ConsoleRoutes(store: store, maxResponseBytes: config.maxResponseBytes).register(on: router)
    ViewRoutes(evento: evento, address: address, maxBodyBytes: config.maxBodyBytes, maxResponseBytes: config.maxResponseBytes).register(on: router)
    router.get("/healthz") { _, _ in
        let head = try await store.headPosition()
        var kafkaStatus: (KafkaRelay.Status, Bool?)?
        if let kafka { kafkaStatus = try await KafkaRoutes<EventoRequestContext>.status(of: kafka, cluster: cluster, store: store) }
        return JSONResponse.object { o in
            o.field("status", "ok")
            o.field("headPosition", head)
            o.field("commandBacklog", processor.backlog)
            let memory = EventoPrometheus.processMemory()
            o.field("rssBytes", memory.current)
            o.field("peakRssBytes", memory.peak)
            if let (st, runsHere) = kafkaStatus {
                o.object("kafka") { k in
                    k.field("connected", st.connected)
                    k.field("cursor", st.cursor)
                    k.field("lag", head - st.cursor)
                    if let runsHere { k.field("runsHere", runsHere) }
                }
            }
        }
    }
    router.get("/metrics") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: EventoPrometheus.exposition())))
    }
    router.get("/openapi.json") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.served)))
    }

    for route in router.routes { logger.debug("route: \(route.method) \(route.path)") }
    routeTable.load(router.routes.map { (path: $0.path.description, method: $0.method.rawValue) })

    let shutdownClock = ShutdownClock(logger: logger)
    var services: [any Service] = []
    if let exporter { services.append(TracingService(exporter: exporter)) }
    services.append(StoreService(store: store, clock: shutdownClock))
    services.append(FunctionsService(registry: registry, http: http, clock: shutdownClock))
    services.append(PipelineService(evento: evento, registry: registry, clock: shutdownClock))
    if let kafka { services.append(KafkaService(relay: kafka, cluster: cluster)) }
    if let clusterStore { services.append(CatalogueSyncService(store: clusterStore, registry: registry, schemas: schemas, logger: logger)) }
    services.append(ShutdownStartService(clock: shutdownClock))
    let descriptors = ConnectionLimit.descriptorLimit
    let maxConnections = config.maxConnections ?? ConnectionLimit.defaultLimit(descriptors: descriptors)
    logger.info(
        "connections: at most \(maxConnections) (descriptor limit \(descriptors.map(String.init) ?? "unlimited")), idle timeout \(config.idleTimeout), body timeout \(config.bodyTimeout)"
    )
    return Application(
        router: router,
        // The idle timeout also bounds a request head: its timer restarts only when a whole head (or a body
        // part) arrives, so a head sent a byte at a time is cut off like a silent connection.
        server: .http1(configuration: .init(idleTimeout: TimeAmount(config.idleTimeout))),
        configuration: .init(
            address: .hostname(config.host, port: config.port), serverName: "evento",
            availableConnectionsDelegate: MaximumAvailableConnections(maxConnections, logger: logger)),
        // Started in this order, stopped in reverse: the HTTP server (last) stops first, the store last.
        services: services,
        onServerRunning: { channel in
            let port = channel.localAddress?.port ?? config.port
            if config.advertiseURL == nil {
                let local = NetworkAddress.isWildcard(config.host) || config.host == "localhost" ? "127.0.0.1" : config.host
                address.set("http://\(local.contains(":") ? "[\(local)]" : local):\(port)")
            }
            if config.advertiseURL == nil {
                let host = NetworkAddress.isWildcard(config.host) ? ProcessInfo.processInfo.hostName : config.host
                cluster?.listening(at: "http://\(host.contains(":") ? "[\(host)]" : host):\(port)")
            }
            onReady(config.host, port)
        },
        logger: logger
    )
}

/// Opens the storage the configuration names: SQLite in the data directory (the embedded default), or
/// PostgreSQL (then also the cluster's store).
func openStorage(_ config: ServerConfiguration, logger: Logger) async throws -> (any EventoStorage, (any ClusterStore)?) {
    if let url = config.storeURL {
        var pg = PostgresStore.Configuration(url: url)
        pg.poolSize = config.storePoolSize
        pg.partitions = config.partitions
        let store = try await PostgresStore.open(configuration: pg, logger: logger)
        return (store, store)
    }
    var storeConfig = SQLiteEventStore.Configuration(dataDirectory: config.dataDirectory)
    storeConfig.durable = config.durable
    storeConfig.walLimitBytes = config.maxWALBytes
    return (try SQLiteEventStore(configuration: storeConfig, logger: logger), nil)
}

/// Registers the schema files of a folder (each `AGGREGATE.avsc`); a missing folder registers none.
func loadSchemas(directory: String, into registry: SchemaRegistry, logger: Logger) async throws {
    let fm = FileManager.default
    var isDirectory: ObjCBool = false
    guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
        logger.notice("no schema folder at \(directory); aggregates get schemas with PUT /schemas/{aggregate}")
        return
    }
    let names = try fm.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".avsc") }.sorted()
    let files = try names.map { name in (name: name, contents: Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))) }
    try await registry.loadDirectory(directory, files: files)
}

/// Registers (or replaces) the functions defined in a JSON file: `{"functions": [ … ]}` or `[ … ]`.
func loadFunctions(file: String, into registry: FunctionRegistry, processDirectory: ProcessDirectory? = nil) async throws {
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
        throw EventoError(.invalidRequest, "cannot read the functions file \(file): \(error.localizedDescription)")
    }
    let value: JSONValue
    do { value = try JSONParser.parse(Array(data)) } catch {
        throw EventoError(.malformedJSON, "the functions file \(file) is not valid JSON: \(error)")
    }
    let items = value["functions"]?.arrayValue ?? value.arrayValue
    guard let items else { throw EventoError(.invalidRequest, "the functions file \(file) must hold {\"functions\": [ … ]} or [ … ]") }
    for (i, item) in items.enumerated() {
        do {
            let definition = try FunctionDefinition.parse(item, path: "functions[\(i)]")
            if let refusal = processDirectory?.refusal(definition) {
                throw EventoError(refusal.code, "functions[\(i)].\(refusal.message)", field: refusal.field.map { "functions[\(i)].\($0)" })
            }
            try await registry.register(definition, replace: true)
        } catch let e as EventoError {
            throw EventoError(e.code, "\(file): \(e.message)", field: e.field)
        }
    }
}

/// Closes the store once everything else has stopped (services stop in reverse order of start).
struct StoreService: Service {
    let store: any EventoStorage
    let clock: ShutdownClock

    func run() async throws {
        try? await gracefulShutdown()
        await store.close()
        clock.log("store closed")
    }
}

/// When shutdown began, so that each stage logs how long the shutdown has taken so far (an operator sees
/// which stage a slow stop waits on).
final class ShutdownClock: Sendable {
    private let started = Mutex<ContinuousClock.Instant?>(nil)
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    /// Notes the start of shutdown (the first call counts) and logs it.
    func begin(_ what: String) {
        let first = started.withLock { s in
            if s != nil { return false }
            s = .now
            return true
        }
        if first { logger.info("shutting down: \(what)") }
    }

    func log(_ stage: String) {
        let elapsed = started.withLock { $0.map { ContinuousClock.now - $0 } }
        let seconds = elapsed.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
        logger.info("shutdown: \(stage)", metadata: seconds.map { ["elapsedSeconds": "\(String(format: "%.3f", $0))"] } ?? [:])
    }
}

/// Starts the shutdown clock when SIGTERM or SIGINT arrives (beside the service group, which stops the
/// HTTP server first and this service right after it), and logs when the HTTP server has stopped.
struct ShutdownStartService: Service {
    let clock: ShutdownClock

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let listener = Task {
            for await signal in signals {
                clock.begin("\(signal): no new connections; requests in progress finish, then the pipeline stops")
                break
            }
        }
        try? await gracefulShutdown()
        listener.cancel()
        clock.begin("no new connections; the pipeline stops next")  // shutdown not started by a signal
        clock.log("HTTP server stopped")
    }
}

/// Stops the functions' transports once the pipeline has stopped calling them: process workers get
/// end-of-file (then SIGTERM), container supervision ends (the containers stay for the next start to adopt).
struct FunctionsService: Service {
    let registry: FunctionRegistry
    let http: HTTPClient
    let clock: ShutdownClock

    func run() async throws {
        try? await gracefulShutdown()
        await registry.shutdown()
        http.shutdown()
        clock.log("functions stopped")
    }
}

/// Runs the command processor and the dispatch relay. On shutdown no new command starts; those in flight
/// get `grace` to finish their call and commit (the functions are still up: they stop after this service);
/// past it the functions are stopped under them. Whatever did not finish stays pending for the next start.
struct PipelineService: Service {
    let evento: Evento
    let registry: FunctionRegistry
    let clock: ShutdownClock
    var grace: Duration = .seconds(2)

    func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await evento.run() }
            group.addTask {
                do { try await gracefulShutdown() } catch { return }  // cancelled: the pipeline ended first
                evento.shutdown()
                try await Task.sleep(for: grace)
                clock.log("commands in flight did not finish within \(grace); stopping the functions under them")
                // The calls had their grace: idle workers exit at end-of-file, busy ones are signalled soon after.
                await registry.shutdown(callGrace: .milliseconds(250))
            }
            // The pipeline drained (or failed): the grace timer is not needed any more.
            try await group.next()
            group.cancelAll()
        }
        clock.log("pipeline stopped")
    }
}

/// Publishes the outbox to Kafka until shutdown (it stops before the store closes); in a cluster, only
/// while this instance holds the Kafka relay's lease.
struct KafkaService: Service {
    static let lease = "relay:kafka"
    let relay: KafkaRelay
    let cluster: ClusterCoordinator?

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            if let cluster {
                await cluster.whileHolding(relay: Self.lease) { try await relay.run() }
            } else {
                try await relay.run()
            }
        }
    }
}

/// In a cluster: starts and stops functions, and reloads schemas, that another instance changed.
struct CatalogueSyncService: Service {
    let store: any ClusterStore
    let registry: FunctionRegistry
    let schemas: SchemaRegistry
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await n in store.notifications() {
                do {
                    switch n {
                    case .functionsChanged: try await registry.syncPersisted()
                    case .schemasChanged: try await schemas.load()
                    case .resumed:
                        try await registry.syncPersisted()
                        try await schemas.load()
                    default: break
                    }
                } catch {
                    logger.warning("cannot catch up with another instance's change: \(error)")
                }
            }
        }
    }
}

/// Builds the application and runs it until SIGTERM or SIGINT, then shuts down gracefully.
public func runServer(
    _ config: ServerConfiguration, onReady: @escaping @Sendable (_ host: String, _ port: Int) -> Void
) async throws {
    let app = try await buildApplication(config, onReady: onReady)
    try await app.runService()
}
