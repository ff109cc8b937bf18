/// What a function does in the pipeline.
public enum FunctionKind: String, Sendable, Hashable, CaseIterable {
    /// command + aggregate state → events
    case handler
    /// aggregate state + new events → new state
    case aggregator
    /// event → commands
    case dispatcher
    /// events (a batch, in position order) → view operations
    case projector
    /// query parameters → a JSON result (read from views through Evento's API)
    case query
}

/// How Evento reaches a function.
public enum TransportSpec: Sendable, Hashable {
    /// POST the function protocol's JSON to a URL.
    case http(url: String)
    /// A pool of long-lived worker processes speaking one JSON object per line on stdin/stdout.
    case process(command: [String], workers: Int, environment: [String: String], workingDirectory: String?)
    /// Replicas of a container image, started by Evento through the container engine, called over HTTP.
    /// The spec is kept as registered; EventoFunctions reads and checks it (`ContainerSpec`), since how a
    /// container is run is its business, not the core's.
    case container(JSONObject)
}

/// A registered function.
public struct FunctionDefinition: Sendable, Hashable {
    public var name: String
    public var kind: FunctionKind
    /// The aggregate a handler or aggregator serves.
    public var aggregate: String?
    /// The event types a dispatcher receives (`"*"` for all; `"aggregate.Type"` for one aggregate's type).
    public var events: [String]
    public var transport: TransportSpec
    /// Time allowed for one call.
    public var timeoutMs: Int
    /// Attempts before a command (or dispatch) becomes a dead letter.
    public var maxAttempts: Int
    /// Most requests sent to the function in one batch request (`{"kind":"batch",…}`); 1 = no batching.
    /// Only for functions that say they accept the batch form (the Evento runtimes do).
    public var maxBatch: Int
    /// Most calls in flight to this function at once. For a handler: how many of its aggregate's entities
    /// run commands at once, so a function that hangs holds at most this many lanes and the others go on.
    public var maxConcurrency: Int

    public static let defaultTimeoutMs = 10_000
    public static let defaultMaxConcurrency = 128
    public static let defaultMaxAttempts = 5
    public static let defaultWorkers = 2

    public init(
        name: String, kind: FunctionKind, aggregate: String? = nil, events: [String] = [], transport: TransportSpec,
        timeoutMs: Int = defaultTimeoutMs, maxAttempts: Int = defaultMaxAttempts, maxBatch: Int = 1,
        maxConcurrency: Int = defaultMaxConcurrency
    ) {
        self.maxBatch = maxBatch
        self.maxConcurrency = maxConcurrency
        self.name = name
        self.kind = kind
        self.aggregate = aggregate
        self.events = events
        self.transport = transport
        self.timeoutMs = timeoutMs
        self.maxAttempts = maxAttempts
    }

    /// Whether a dispatcher or projector receives this event.
    public func receives(_ event: EventEnvelope) -> Bool {
        let aggregate = event.entity.aggregate
        return events.contains { e in
            e == "*" || e == event.type
                || (e.utf8.count == aggregate.utf8.count + 1 + event.type.utf8.count && e == "\(aggregate).\(event.type)")
                || (e.utf8.count == aggregate.utf8.count + 2 && e.hasSuffix(".*") && e.hasPrefix(aggregate))
        }
    }
}

extension FunctionDefinition {
    /// Parses a registration (`POST /functions` body, or an entry of `--functions FILE`).
    public static func parse(_ value: JSONValue, path: String = "") throws(EventoError) -> FunctionDefinition {
        var r = try FieldReader(value, path: path)
        let name = try r.requireString("name")
        guard isValidName(name) else {
            throw EventoError.invalid(r.path("name"), "\"\(name)\" is not a function name (1 to 64 of A-Z a-z 0-9 _ . -)")
        }
        let kindText = try r.requireString("kind")
        guard let kind = FunctionKind(rawValue: kindText) else {
            throw EventoError.invalid(r.path("kind"), "expected one of handler, aggregator, dispatcher, projector, query, got \"\(kindText)\"")
        }
        let aggregate = try r.string("aggregate")
        let eventsValue = try r.array("events")
        var events: [String] = []
        switch kind {
        case .handler, .aggregator:
            guard let aggregate else { throw EventoError.invalid(r.path("aggregate"), "is required for a \(kind.rawValue)") }
            guard Names.isAvroName(aggregate) else {
                throw EventoError.invalid(r.path("aggregate"), "\"\(aggregate)\" is not an aggregate name ([A-Za-z_][A-Za-z0-9_]*)")
            }
            if eventsValue != nil {
                throw EventoError.invalid(r.path("events"), "only dispatchers take events; a \(kind.rawValue) gets its aggregate's")
            }
        case .query:
            if aggregate != nil { throw EventoError.invalid(r.path("aggregate"), "a query takes parameters, not an aggregate") }
            if eventsValue != nil { throw EventoError.invalid(r.path("events"), "a query takes parameters, not events") }
        case .dispatcher, .projector:
            if aggregate != nil {
                throw EventoError.invalid(r.path("aggregate"), "a \(kind.rawValue) takes events, not an aggregate")
            }
            guard let eventsValue, !eventsValue.isEmpty else {
                throw EventoError.invalid(r.path("events"), "is required for a \(kind.rawValue): a list of event types (Type, aggregate.Type, aggregate.*), or [\"*\"]")
            }
            for (i, v) in eventsValue.enumerated() {
                let p = "\(r.path("events"))[\(i)]"
                guard case .string(let t) = v else { throw EventoError.invalid(p, "expected string, got \(v.typeName)") }
                let parts = t.split(separator: ".", omittingEmptySubsequences: false)
                let wholeAggregate = parts.count == 2 && parts[1] == "*" && Names.isAvroName(String(parts[0]))
                guard t == "*" || wholeAggregate || (parts.count <= 2 && parts.allSatisfy { Names.isAvroName(String($0)) }) else {
                    throw EventoError.invalid(p, "\"\(t)\" is not an event type (Type, aggregate.Type, aggregate.* or *)")
                }
                events.append(t)
            }
        }
        guard var t = try r.object("transport") else { throw EventoError.invalid(r.path("transport"), "is required") }
        let transport = try parseTransport(&t)
        let timeoutMs = try r.int("timeoutMs") ?? Int64(defaultTimeoutMs)
        guard (1...600_000).contains(timeoutMs) else {
            throw EventoError.invalid(r.path("timeoutMs"), "expected 1 to 600000 milliseconds, got \(timeoutMs)")
        }
        let maxAttempts = try r.int("maxAttempts") ?? Int64(defaultMaxAttempts)
        guard (1...100).contains(maxAttempts) else {
            throw EventoError.invalid(r.path("maxAttempts"), "expected 1 to 100, got \(maxAttempts)")
        }
        let maxBatch = try r.int("maxBatch") ?? 1
        guard (1...1000).contains(maxBatch) else {
            throw EventoError.invalid(r.path("maxBatch"), "expected 1 to 1000, got \(maxBatch)")
        }
        let maxConcurrency = try r.int("maxConcurrency") ?? Int64(defaultMaxConcurrency)
        guard (1...4096).contains(maxConcurrency) else {
            throw EventoError.invalid(r.path("maxConcurrency"), "expected 1 to 4096, got \(maxConcurrency)")
        }
        try r.rejectUnknownFields()
        return FunctionDefinition(
            name: name, kind: kind, aggregate: aggregate, events: events, transport: transport, timeoutMs: Int(timeoutMs),
            maxAttempts: Int(maxAttempts), maxBatch: Int(maxBatch), maxConcurrency: Int(maxConcurrency))
    }

    private static func parseTransport(_ t: inout FieldReader) throws(EventoError) -> TransportSpec {
        let keys = t.object.keys
        guard keys.count == 1, let key = keys.first else {
            throw EventoError.invalid(t.path, "expected exactly one of {\"http\": {…}}, {\"process\": {…}} or {\"container\": {…}}")
        }
        switch key {
        case "http":
            guard var h = try t.object("http") else { throw EventoError.invalid(t.path("http"), "is required") }
            let url = try h.requireString("url")
            guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.count > 8 else {
                throw EventoError.invalid(h.path("url"), "expected an http:// or https:// URL, got \"\(url)\"")
            }
            try h.rejectUnknownFields()
            return .http(url: url)
        case "process":
            guard var p = try t.object("process") else { throw EventoError.invalid(t.path("process"), "is required") }
            guard let commandValue = try p.array("command"), !commandValue.isEmpty else {
                throw EventoError.invalid(p.path("command"), "is required: the program and its arguments, e.g. [\"python3\", \"fn.py\"]")
            }
            var command: [String] = []
            for (i, v) in commandValue.enumerated() {
                guard case .string(let s) = v, !s.isEmpty else {
                    throw EventoError.invalid("\(p.path("command"))[\(i)]", "expected a non-empty string, got \(v.jsonText)")
                }
                command.append(s)
            }
            let workers = try p.int("workers") ?? Int64(defaultWorkers)
            guard (1...64).contains(workers) else { throw EventoError.invalid(p.path("workers"), "expected 1 to 64, got \(workers)") }
            let environment = try parseEnvironment(&p)
            let cwd = try p.string("cwd")
            try p.rejectUnknownFields()
            return .process(command: command, workers: Int(workers), environment: environment, workingDirectory: cwd)
        case "container":
            guard let c = try t.object("container") else { throw EventoError.invalid(t.path("container"), "is required") }
            return .container(c.object)
        default:
            throw EventoError.invalid(t.path(key), "unknown transport \"\(key)\"; expected http, process or container")
        }
    }

    /// An `env` object of string values (process and container transports).
    public static func parseEnvironment(_ r: inout FieldReader) throws(EventoError) -> [String: String] {
        var environment: [String: String] = [:]
        if let env = try r.object("env") {
            for m in env.object {
                guard case .string(let v) = m.value else {
                    throw EventoError.invalid(env.path(m.key), "expected string, got \(m.value.typeName)")
                }
                guard !m.key.isEmpty, !m.key.contains("=") else {
                    throw EventoError.invalid(env.path(m.key), "\"\(m.key)\" is not an environment variable name")
                }
                environment[m.key] = v
            }
        }
        return environment
    }

    static func isValidName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count <= 64
            && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D }
    }

    /// The JSON form (what `GET /functions` shows and the store keeps).
    public var json: JSONValue {
        var o: JSONObject = ["name": .string(name), "kind": .string(kind.rawValue)]
        if let aggregate { o["aggregate"] = .string(aggregate) }
        if kind == .dispatcher || kind == .projector { o["events"] = .array(events.map(JSONValue.string)) }
        switch transport {
        case .http(let url):
            o["transport"] = ["http": ["url": .string(url)]]
        case .process(let command, let workers, let environment, let cwd):
            var p: JSONObject = ["command": .array(command.map(JSONValue.string)), "workers": .int(Int64(workers))]
            if !environment.isEmpty {
                p["env"] = .object(JSONObject(environment.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: .string($0.value)) }))
            }
            if let cwd { p["cwd"] = .string(cwd) }
            o["transport"] = ["process": .object(p)]
        case .container(let spec):
            o["transport"] = ["container": .object(spec)]
        }
        o["timeoutMs"] = .int(Int64(timeoutMs))
        o["maxAttempts"] = .int(Int64(maxAttempts))
        if maxBatch > 1 { o["maxBatch"] = .int(Int64(maxBatch)) }
        if maxConcurrency != Self.defaultMaxConcurrency { o["maxConcurrency"] = .int(Int64(maxConcurrency)) }
        return .object(o)
    }
}

/// A failed function call.
public struct FunctionCallError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, decided where the error is made (never read back from the message).
    public struct Reason: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case failed
            case timeout
            case unavailable
            case protocolViolation = "protocol-violation"
            case replyTooLarge = "reply-too-large"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The function answered with an error or a bad status, crashed, or sent a reply that is not valid.
        public static let failed = Reason(.failed)
        /// The function did not answer within the call's timeout.
        public static let timeout = Reason(.timeout)
        /// The function could not be reached: no worker or replica to take the call, connection refused,
        /// the function being removed.
        public static let unavailable = Reason(.unavailable)
        /// A worker broke the line protocol (a stray stdout line, a missing or wrong call id): it was replaced.
        public static let protocolViolation = Reason(.protocolViolation)
        /// The reply was larger than the server accepts.
        public static let replyTooLarge = Reason(.replyTooLarge)

        public var description: String { base.rawValue }
    }

    public var function: String
    public var message: String
    /// Whether trying again may succeed (timeouts, crashes, 5xx) or not (4xx, `"retryable": false`).
    public var retryable: Bool
    public var reason: Reason

    public init(function: String, message: String, retryable: Bool, reason: Reason = .failed) {
        self.function = function
        self.message = message
        self.retryable = retryable
        self.reason = reason
    }

    public var description: String { "\(function): \(message)" }

    /// The call got no reply in time.
    public var isTimeout: Bool { reason == .timeout }
}

/// The registered functions, as the pipeline sees them.
public protocol FunctionDirectory: Sendable {
    func handler(for aggregate: String) -> FunctionDefinition?
    func aggregator(for aggregate: String) -> FunctionDefinition?
    func dispatchers() -> [FunctionDefinition]
    func projectors() -> [FunctionDefinition]
    func function(named name: String) -> FunctionDefinition?
    /// Sends one request of the function protocol and returns the reply's JSON text.
    /// - Throws: `FunctionCallError`.
    func invoke(_ function: FunctionDefinition, request: [UInt8]) async throws -> [UInt8]
}
