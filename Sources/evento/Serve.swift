import ArgumentParser
import EventoCore
import EventoFunctions
import EventoKafka
import EventoServer
import Foundation
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Evento server.",
        discussion: """
            Tokens: $EVENTO_TOKENS="read:TOKEN,write:TOKEN,admin:TOKEN" (several per scope; admin includes write,
            write includes read), --tokens-file (one scope:token a line), and $EVENTO_ADMIN_TOKEN (one admin token).
            With any token, every route but /healthz, /metrics, /openapi.json and /ui needs `Authorization: Bearer
            TOKEN` of a large enough scope (docs/security.md); binding an address other than loopback requires a
            token. docs/limits.md lists every limit and how to change it.
            """
    )

    @Option(help: "Address to bind (default: $EVENTO_HOST or 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free one (default: $EVENTO_PORT or 8080).")
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "Directory for the database (default: $EVENTO_DATA_DIR or ./data).")
    var dataDir: String?

    @Option(name: .customLong("max-body-bytes"), help: "Largest request body accepted (default: $EVENTO_MAX_BODY_BYTES or 4194304).")
    var maxBodyBytes: Int?

    @Option(name: .customLong("max-response-bytes"), help: "Largest answer of a listing; a page ends early and says where to continue (default: $EVENTO_MAX_RESPONSE_BYTES or 16777216).")
    var maxResponseBytes: Int?

    @Option(name: .customLong("idle-timeout-ms"), help: "Close a connection silent for this long, or whose request head stalls (default: $EVENTO_IDLE_TIMEOUT_MS or 15000).")
    var idleTimeoutMs: Int?

    @Option(name: .customLong("body-timeout-ms"), help: "Answer 408 when a request body has not arrived this long after its head (default: $EVENTO_BODY_TIMEOUT_MS or 30000).")
    var bodyTimeoutMs: Int?

    @Option(name: .customLong("max-connections"), help: "Most client connections at once; more wait (default: $EVENTO_MAX_CONNECTIONS or the descriptor limit less 256, at most 10000).")
    var maxConnections: Int?

    @Option(name: .customLong("allowed-origins"), help: "Comma-separated origins whose browser requests are accepted, with CORS, e.g. https://ui.example:3000 ($EVENTO_ALLOWED_ORIGINS; default: none).")
    var allowedOrigins: String?

    @Option(name: .customLong("allowed-hosts"), help: "Comma-separated Host names (name or name:port, * for any) accepted ($EVENTO_ALLOWED_HOSTS; default: the bound address).")
    var allowedHosts: String?

    @Flag(name: .customLong("no-fsync"), help: "Do not fsync each commit (faster; the last commits can be lost on power loss).")
    var noFsync = false

    @Option(name: .customLong("tokens-file"), help: "A file of access tokens, one scope:token a line (read, write, admin), # comments ($EVENTO_TOKENS_FILE; added to $EVENTO_TOKENS).")
    var tokensFile: String?

    @Option(name: .customLong("jwt-secret-file"), help: "Accept JWTs signed with HS256 under the secret in this file, scope in the scope claim ($EVENTO_JWT_SECRET_FILE, or the secret itself in $EVENTO_JWT_SECRET).")
    var jwtSecretFile: String?

    @Option(name: .customLong("jwt-issuer"), help: "A JWT's iss claim must be this ($EVENTO_JWT_ISSUER; default: not checked).")
    var jwtIssuer: String?

    @Option(name: .customLong("jwt-audience"), help: "A JWT's aud claim must contain this ($EVENTO_JWT_AUDIENCE; default: not checked).")
    var jwtAudience: String?

    @Option(name: .customLong("process-dir"), help: "Process functions may only run programs inside this folder (resolved path; $EVENTO_PROCESS_DIR; default: anywhere).")
    var processDir: String?

    @Option(help: "A JSON file of function definitions to register (or replace) at start: {\"functions\": [ … ]}.")
    var functions: String?

    @Option(help: "A folder of AGGREGATE.avsc schema files to register at start (default: $EVENTO_SCHEMAS or ./schemas).")
    var schemas: String?

    @Flag(name: .customLong("allow-schemaless"), help: "Accept events and commands of aggregates without a schema, unvalidated ($EVENTO_ALLOW_SCHEMALESS=1).")
    var allowSchemaless = false

    @Option(name: .customLong("kafka-brokers"), help: "Publish every event to Kafka at HOST:PORT[,…] ($EVENTO_KAFKA_BROKERS); without it events wait in the outbox.")
    var kafkaBrokers: String?

    @Option(name: .customLong("kafka-topic"), help: "Topic for the events (default: $EVENTO_KAFKA_TOPIC or kf-evento-events).")
    var kafkaTopic: String?

    @Option(name: .customLong("kafka-partitions"), help: "Partitions when Evento creates the topic (default: $EVENTO_KAFKA_PARTITIONS or 4).")
    var kafkaPartitions: Int?

    @Option(name: .customLong("kafka-format"), help: "avro (Confluent wire format, the default) or json ($EVENTO_KAFKA_FORMAT).")
    var kafkaFormat: String?

    @Option(name: .customLong("kafka-config"), help: "A librdkafka property, key=value (repeatable), e.g. security.protocol=SASL_SSL.")
    var kafkaConfig: [String] = []

    @Option(
        name: .customLong("container-engine"),
        help: "The container engine and its global flags, e.g. \"docker\" ($EVENTO_CONTAINER_ENGINE; default: podman --runtime runc --cgroup-manager cgroupfs, or docker).")
    var containerEngine: String?

    @Option(name: .customLong("container-run-flags"), help: "Extra flags of every container run ($EVENTO_CONTAINER_RUN_FLAGS).")
    var containerRunFlags: String?

    @Option(name: .customLong("container-network"), help: "host (the default) or bridge ($EVENTO_CONTAINER_NETWORK).")
    var containerNetwork: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error (default: $EVENTO_LOG_LEVEL or info).")
    var logLevel: String?

    @Option(name: .customLong("max-backlog"), help: "Most commands accepted and not finished before POST /commands and POST /events answer 429 with Retry-After (default: $EVENTO_MAX_BACKLOG or 20000).")
    var maxBacklog: Int?
    @Option(name: .customLong("max-backlog-bytes"), help: "Most payload bytes of unfinished commands before new ones get 429 (default: $EVENTO_MAX_BACKLOG_BYTES or 268435456).")
    var maxBacklogBytes: Int?
    @Option(name: .customLong("max-wal-bytes"), help: "SQLite: bytes of frames the WAL may hold before it starts over, and its file's size after; at least 1048576 (default: $EVENTO_MAX_WAL_BYTES or 1073741824).")
    var maxWALBytes: Int?
    @Option(name: .customLong("max-scheduled"), help: "Most commands held for a later time (notBefore, delayMs) before clients' new scheduled commands get 429 (default: $EVENTO_MAX_SCHEDULED or 100000).")
    var maxScheduled: Int?
    @Option(name: .customLong("max-events-per-command"), help: "Most events one command may produce (default: $EVENTO_MAX_EVENTS_PER_COMMAND or 1000).")
    var maxEventsPerCommand: Int?

    @Option(name: .customLong("max-event-bytes"), help: "Largest event payload a handler may return, in bytes (default: $EVENTO_MAX_EVENT_BYTES or 4194304).")
    var maxEventBytes: Int?

    @Option(name: .customLong("max-reply-bytes"), help: "Largest reply a function may send, in bytes (default: $EVENTO_MAX_REPLY_BYTES or 16777216).")
    var maxReplyBytes: Int?

    @Option(name: .customLong("store"), help: "postgres://USER:PASS@HOST:PORT/DB to keep everything in PostgreSQL; instances on one database form a cluster ($EVENTO_STORE; default: SQLite in --data-dir).")
    var store: String?

    @Option(name: .customLong("store-pool-size"), help: "PostgreSQL connections per instance (default: $EVENTO_STORE_POOL_SIZE or 10).")
    var storePoolSize: Int?

    @Option(name: .customLong("partitions"), help: "Partitions of a new PostgreSQL store, fixed at its creation (default: $EVENTO_PARTITIONS or 64).")
    var partitions: Int?

    @Option(name: .customLong("instance-id"), help: "This instance's id in a cluster (default: $EVENTO_INSTANCE_ID or HOST-PORT-random, new at each start).")
    var instanceId: String?

    @Option(name: .customLong("advertise-url"), help: "The URL other instances and clients reach this one at (default: $EVENTO_ADVERTISE_URL or http://HOST:PORT).")
    var advertiseURL: String?

    @Option(name: .customLong("lease-ttl-ms"), help: "How long a cluster lease lasts unrenewed; a dead instance's partitions move after about this plus 1 s (default: $EVENTO_LEASE_TTL_MS or 5000).")
    var leaseTTLMs: Int?

    func run() async throws {
        var config = ServerConfiguration()
        if let url = store ?? Environment.get("EVENTO_STORE"), !url.isEmpty {
            guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
                throw ValidationError("--store: expected postgres://USER:PASS@HOST:PORT/DB, got \(url.prefix(40))")
            }
            config.storeURL = url
        }
        if let n = try storePoolSize ?? Self.intEnv("EVENTO_STORE_POOL_SIZE") { config.storePoolSize = try Self.positive(n, "--store-pool-size") }
        if let n = try partitions ?? Self.intEnv("EVENTO_PARTITIONS") {
            guard (1...4096).contains(n) else { throw ValidationError("--partitions: expected 1 to 4096, got \(n)") }
            config.partitions = n
        }
        config.instanceId = instanceId ?? Environment.get("EVENTO_INSTANCE_ID")
        config.advertiseURL = advertiseURL ?? Environment.get("EVENTO_ADVERTISE_URL")
        if let t = try leaseTTLMs ?? Self.intEnv("EVENTO_LEASE_TTL_MS") {
            guard t >= 500 else { throw ValidationError("--lease-ttl-ms: expected at least 500, got \(t)") }
            config.leaseTTL = .milliseconds(t)
        }
        config.host = host ?? Environment.get("EVENTO_HOST") ?? config.host
        if let p = try port ?? Self.intEnv("EVENTO_PORT") { config.port = p }
        config.dataDirectory = dataDir ?? Environment.get("EVENTO_DATA_DIR") ?? config.dataDirectory
        if let m = try maxBodyBytes ?? Self.intEnv("EVENTO_MAX_BODY_BYTES") { config.maxBodyBytes = try Self.positive(m, "--max-body-bytes") }
        if let m = try maxResponseBytes ?? Self.intEnv("EVENTO_MAX_RESPONSE_BYTES") {
            config.maxResponseBytes = try Self.positive(m, "--max-response-bytes")
        }
        if let t = try idleTimeoutMs ?? Self.intEnv("EVENTO_IDLE_TIMEOUT_MS") { config.idleTimeout = .milliseconds(try Self.positive(t, "--idle-timeout-ms")) }
        if let t = try bodyTimeoutMs ?? Self.intEnv("EVENTO_BODY_TIMEOUT_MS") { config.bodyTimeout = .milliseconds(try Self.positive(t, "--body-timeout-ms")) }
        if let n = try maxConnections ?? Self.intEnv("EVENTO_MAX_CONNECTIONS") { config.maxConnections = try Self.positive(n, "--max-connections") }
        if let list = allowedOrigins ?? Environment.get("EVENTO_ALLOWED_ORIGINS") { config.allowedOrigins = Self.list(list) }
        if let list = allowedHosts ?? Environment.get("EVENTO_ALLOWED_HOSTS") { config.allowedHosts = Self.list(list) }
        config.durable = !noFsync
        if let n = try maxWALBytes ?? Self.intEnv("EVENTO_MAX_WAL_BYTES") {
            guard n >= 1 << 20 else { throw ValidationError("--max-wal-bytes: at least 1048576 (1 MiB), got \(n)") }
            config.maxWALBytes = n
        }
        config.functionsFile = functions ?? Environment.get("EVENTO_FUNCTIONS")
        config.adminToken = Environment.get("EVENTO_ADMIN_TOKEN").flatMap { $0.isEmpty ? nil : $0 }
        config.tokens = try Self.accessTokens(file: tokensFile ?? Environment.get("EVENTO_TOKENS_FILE"), list: Environment.get("EVENTO_TOKENS"))
        config.processDirectory = processDir ?? Environment.get("EVENTO_PROCESS_DIR")
        // Function workers and the container engine's commands inherit this process's environment: the tokens
        // leave it now that they are read (workers get a read token of their own, EVENTO_TOKEN).
        config.jwt = try Self.jwt(
            file: jwtSecretFile ?? Environment.get("EVENTO_JWT_SECRET_FILE"), secret: Environment.get("EVENTO_JWT_SECRET"),
            issuer: jwtIssuer ?? Environment.get("EVENTO_JWT_ISSUER"), audience: jwtAudience ?? Environment.get("EVENTO_JWT_AUDIENCE"))
        unsetenv("EVENTO_TOKENS")
        unsetenv("EVENTO_ADMIN_TOKEN")
        unsetenv("EVENTO_JWT_SECRET")
        config.schemasDirectory = schemas ?? Environment.get("EVENTO_SCHEMAS") ?? config.schemasDirectory
        config.allowSchemaless = allowSchemaless || ["1", "true", "yes"].contains(Environment.get("EVENTO_ALLOW_SCHEMALESS")?.lowercased() ?? "")
        if let level = logLevel ?? Environment.get("EVENTO_LOG_LEVEL") {
            guard let l = Logger.Level(rawValue: level) else { throw ValidationError("unknown log level \(level)") }
            config.logLevel = l
        }
        if let brokers = kafkaBrokers ?? Environment.get("EVENTO_KAFKA_BROKERS") {
            var relay = KafkaRelay.Configuration(kafka: KafkaConfiguration(brokers: brokers))
            relay.topic = kafkaTopic ?? Environment.get("EVENTO_KAFKA_TOPIC") ?? relay.topic
            if let p = try kafkaPartitions ?? Self.intEnv("EVENTO_KAFKA_PARTITIONS") { relay.partitions = p }
            if let f = kafkaFormat ?? Environment.get("EVENTO_KAFKA_FORMAT") {
                guard let format = KafkaRelay.Format(rawValue: f) else { throw ValidationError("--kafka-format: expected avro or json, got \(f)") }
                relay.format = format
            }
            for pair in kafkaConfig + (Environment.get("EVENTO_KAFKA_CONFIG")?.split(separator: ",").map(String.init) ?? []) {
                guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                    throw ValidationError("--kafka-config: expected key=value, got \(pair)")
                }
                relay.kafka.properties[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
            }
            config.kafka = relay
        }
        config.containerEngine = containerEngine.map(ContainerEngine.splitWords)
        config.containerRunFlags = containerRunFlags.map(ContainerEngine.splitWords)
        if let n = containerNetwork {
            guard let network = ContainerEngine.Network(rawValue: n) else { throw ValidationError("--container-network: expected host or bridge, got \(n)") }
            config.containerNetwork = network
        }
        if let n = try maxBacklog ?? Self.intEnv("EVENTO_MAX_BACKLOG") { config.processor.maxBacklog = try Self.positive(n, "--max-backlog") }
        if let n = try maxScheduled ?? Self.intEnv("EVENTO_MAX_SCHEDULED") { config.processor.maxScheduled = try Self.positive(n, "--max-scheduled") }
        if let n = try maxBacklogBytes ?? Self.intEnv("EVENTO_MAX_BACKLOG_BYTES") {
            config.processor.maxBacklogBytes = try Self.positive(n, "--max-backlog-bytes")
        }
        if let n = try maxEventsPerCommand ?? Self.intEnv("EVENTO_MAX_EVENTS_PER_COMMAND") {
            config.processor.maxEventsPerCommand = try Self.positive(n, "--max-events-per-command")
        }
        if let n = try maxEventBytes ?? Self.intEnv("EVENTO_MAX_EVENT_BYTES") {
            config.processor.maxEventBytes = try Self.positive(n, "--max-event-bytes")
        }
        if let n = try maxReplyBytes ?? Self.intEnv("EVENTO_MAX_REPLY_BYTES") {
            guard n >= 1024 else { throw ValidationError("--max-reply-bytes: expected at least 1024, got \(n)") }
            config.maxReplyBytes = n
        }
        do {
            config.tracing = try OTLPTraceExporter.Configuration.fromEnvironment(ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError(error.message)
        }
        let level = config.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        EventoPrometheus.bootstrap()
        try await runServer(config) { host, port in
            output("Evento listening on http://\(host):\(port)")
        }
    }

    /// The tokens of `EVENTO_TOKENS` and of the tokens file. Errors name the entry or line, never a token.
    static func accessTokens(file: String?, list: String?) throws -> AccessTokens {
        do {
            var tokens = AccessTokens()
            if let list { try tokens.add(try AccessTokens.parse(list: list)) }
            if let file, !file.isEmpty {
                let contents: String
                do { contents = try String(contentsOfFile: file, encoding: .utf8) } catch {
                    throw ValidationError("--tokens-file \(file): cannot read it (\(error.localizedDescription))")
                }
                try tokens.add(try AccessTokens.parse(file: contents, path: file))
            }
            return tokens
        } catch let e as EventoError {
            throw ValidationError(e.message)
        }
    }

    /// The JWT secret, from its file (a trailing line break dropped) or the variable; nil: no JWTs.
    static func jwt(file: String?, secret: String?, issuer: String?, audience: String?) throws -> JWTVerifier.Configuration? {
        var bytes: [UInt8]?
        if let file, !file.isEmpty {
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("--jwt-secret-file \(file): cannot read it") }
            var b = Array(data)
            while let last = b.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { b.removeLast() }
            bytes = b
        } else if let secret, !secret.isEmpty {
            bytes = Array(secret.utf8)
        }
        guard let bytes else { return nil }
        guard bytes.count >= 32 else { throw ValidationError("the JWT secret must be at least 32 bytes, got \(bytes.count)") }
        return JWTVerifier.Configuration(secret: bytes, issuer: issuer, audience: audience)
    }

    static func positive(_ value: Int, _ name: String) throws -> Int {
        guard value > 0 else { throw ValidationError("\(name): expected a number above 0, got \(value)") }
        return value
    }

    /// A comma-separated list, blanks dropped.
    static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    static func intEnv(_ name: String) throws -> Int? {
        guard let text = Environment.get(name) else { return nil }
        guard let v = Int(text) else { throw ValidationError("\(name)=\(text) is not an integer") }
        return v
    }
}
