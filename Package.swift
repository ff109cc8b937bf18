// swift-tools-version:6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "evento",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "evento", targets: ["evento"]),
        .library(name: "EventoCore", targets: ["EventoCore"]),
        // What a Swift function links: the function protocol over stdin/stdout and HTTP.
        .library(name: "EventoRuntime", targets: ["EventoRuntime"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-otel/swift-w3c-trace-context.git", from: "1.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // C libraries: a module map and a shim header each, nothing else.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CAvro", pkgConfig: "avro-c", providers: [.apt(["libavro-dev"])]),
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),

        // Linux calls that need _GNU_SOURCE (pipe2, posix_spawn file actions).
        .target(name: "CEventoSystem"),

        // JSON as Evento needs it: a strict parser (exact 64-bit integers, duplicate keys refused, line and
        // column in every error, bounded nesting), values that keep member order, a writer that splices
        // stored text. No dependencies.
        .target(name: "EventoJSON", swiftSettings: strict),
        // Envelopes, ids, the application layer, the pipeline, the store protocols. No C, no NIO.
        .target(
            name: "EventoCore",
            dependencies: [
                "EventoJSON",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
            ],
            swiftSettings: strict
        ),
        // SQLite event store (the embedded default).
        .target(
            name: "EventoStore",
            dependencies: [
                "EventoCore", "CSQLite",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        // PostgreSQL store (a cluster of instances on one database): every store protocol over postgres-nio,
        // plus the leases, instance registry and notifications a cluster needs.
        .target(
            name: "EventoPostgres",
            dependencies: [
                "EventoCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        // Outbound HTTP over libcurl's multi interface (connection reuse, one I/O thread).
        .target(name: "EventoHTTP", dependencies: ["CCurl"], swiftSettings: strict),
        // Avro: schemas, validation of natural JSON, binary encoding through Avro C, compatibility.
        .target(
            name: "EventoAvro",
            dependencies: [
                "EventoCore", "CAvro", .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // Kafka: producer, consumer and admin over librdkafka; the outbox relay to kf-evento-events.
        .target(
            name: "EventoKafka",
            dependencies: [
                "EventoCore", "EventoAvro", "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // Function registry and transports (http, process).
        .target(
            name: "EventoFunctions",
            dependencies: [
                "EventoCore", "EventoHTTP", "CEventoSystem",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),
        // Hummingbird application: routes, problem+json, OpenAPI.
        .target(
            name: "EventoServer",
            dependencies: [
                "EventoCore", "EventoStore", "EventoPostgres", "EventoFunctions", "EventoHTTP", "EventoAvro", "EventoKafka",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "evento",
            dependencies: [
                "EventoCore", "EventoServer", "EventoHTTP", "EventoKafka", "EventoFunctions", "EventoStore", "EventoPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),

        // Function runtimes and the example functions.
        .target(
            name: "EventoRuntime",
            dependencies: [
                "EventoCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "runtime/swift/EventoRuntime",
            swiftSettings: strict
        ),
        .executableTarget(name: "checking-function", dependencies: ["EventoRuntime"], path: "functions/checking", swiftSettings: strict),
        .executableTarget(name: "transfer-function", dependencies: ["EventoRuntime"], path: "functions/transfer/Swift", swiftSettings: strict),

        .testTarget(name: "EventoCoreTests", dependencies: ["EventoCore", "EventoJSON", "EventoStore"], swiftSettings: strict),
        .testTarget(
            name: "EventoStoreTests",
            dependencies: ["EventoCore", "EventoStore", "EventoPostgres", .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: strict),
        .testTarget(name: "EventoAvroTests", dependencies: ["EventoCore", "EventoAvro"], swiftSettings: strict),
        .testTarget(name: "EventoKafkaTests", dependencies: ["EventoCore", "EventoKafka"], swiftSettings: strict),
        .testTarget(
            name: "EventoIntegrationTests",
            dependencies: ["evento", "checking-function", "EventoCore", "EventoHTTP", "CEventoSystem", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
    ]
)
