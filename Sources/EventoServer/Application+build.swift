import EventoCore
import EventoStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Everything `evento serve` can be told.
public struct ServerConfiguration: Sendable {
    public var host: String = "127.0.0.1"
    /// 0 picks a free port (the ready line says which).
    public var port: Int = 8080
    public var dataDirectory: String = "data"
    /// Largest request body accepted, in bytes.
    public var maxBodyBytes: Int = 4 * 1024 * 1024
    /// fsync every commit (`synchronous=FULL`); off trades the last commits on power loss for speed.
    public var durable: Bool = true
    public var logLevel: Logger.Level = .info

    public init() {}
}

/// Builds the Evento application: the store, its services and the HTTP routes. `evento serve` and the
/// tests both go through here.
public func buildApplication(
    _ config: ServerConfiguration,
    onReady: @escaping @Sendable (_ host: String, _ port: Int) -> Void = { _, _ in }
) throws -> some ApplicationProtocol {
    var logger = Logger(label: "evento")
    logger.logLevel = config.logLevel
    var storeConfig = SQLiteEventStore.Configuration(dataDirectory: config.dataDirectory)
    storeConfig.durable = config.durable
    let store = try SQLiteEventStore(configuration: storeConfig, logger: logger)

    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: ProblemMiddleware())
    EventRoutes(store: store, commits: store.commits, maxBodyBytes: config.maxBodyBytes).register(on: router)
    TraceRoutes(store: store).register(on: router)
    router.get("/healthz") { _, _ in
        let head = try await store.headPosition()
        return JSONResponse.object { o in
            o.field("status", "ok")
            o.field("headPosition", head)
        }
    }
    router.get("/openapi.json") { _, _ in
        Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
    }

    return Application(
        router: router,
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: "evento"),
        services: [StoreService(store: store)],
        onServerRunning: { channel in
            onReady(config.host, channel.localAddress?.port ?? config.port)
        },
        logger: logger
    )
}

/// Closes the store once the server has stopped (services stop in reverse order of start).
struct StoreService: Service {
    let store: SQLiteEventStore

    func run() async throws {
        try? await gracefulShutdown()
        store.close()
    }
}

/// Builds the application and runs it until SIGTERM or SIGINT, then shuts down gracefully.
public func runServer(
    _ config: ServerConfiguration, onReady: @escaping @Sendable (_ host: String, _ port: Int) -> Void
) async throws {
    let app = try buildApplication(config, onReady: onReady)
    try await app.runService()
}
