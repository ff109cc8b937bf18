import EventoCore

/// A function deployed as containers (`transport: {"container": {…}}`).
public struct ContainerSpec: Sendable, Hashable {
    /// The image, e.g. `localhost/evento-fn-savings:latest`. Evento never pulls: the image must be on the host.
    public var image: String
    /// The port the function listens on inside the container (the image's `EVENTO_HTTP_PORT`).
    public var port: Int
    public var replicas: Int
    /// Extra environment of the function process.
    public var environment: [String: String]
    /// CPU limit in cores (`--cpus`), nil: none.
    public var cpu: Double?
    /// Memory limit as the engine takes it (`512m`, `1g`), nil: none.
    public var memory: String?
    /// Time allowed for a replica to start and answer GET /healthz.
    public var startTimeoutMs: Int

    public static let defaultPort = 8080
    public static let defaultStartTimeoutMs = 60_000

    public init(
        image: String, port: Int = defaultPort, replicas: Int = 1, environment: [String: String] = [:], cpu: Double? = nil,
        memory: String? = nil, startTimeoutMs: Int = defaultStartTimeoutMs
    ) {
        self.image = image
        self.port = port
        self.replicas = replicas
        self.environment = environment
        self.cpu = cpu
        self.memory = memory
        self.startTimeoutMs = startTimeoutMs
    }

    /// The JSON form, as registered.
    public var json: JSONValue {
        var c: JSONObject = ["image": .string(image), "port": .int(Int64(port)), "replicas": .int(Int64(replicas))]
        if !environment.isEmpty {
            c["env"] = .object(JSONObject(environment.sorted { $0.key < $1.key }.map { .init(key: $0.key, value: .string($0.value)) }))
        }
        if let cpu { c["cpu"] = .double(cpu) }
        if let memory { c["memory"] = .string(memory) }
        c["startTimeoutMs"] = .int(Int64(startTimeoutMs))
        return .object(c)
    }

    /// Reads and checks a registration's `transport.container` object; errors name the field.
    public static func parse(_ object: JSONObject, path: String = "transport.container") throws(EventoError) -> ContainerSpec {
        var c = try FieldReader(.object(object), path: path)
        let image = try c.requireString("image")
        guard isValidImageReference(image) else {
            throw EventoError.invalid(c.path("image"), "\"\(image)\" is not an image reference (e.g. localhost/evento-fn-savings:latest)")
        }
        let port = try c.int("port") ?? Int64(ContainerSpec.defaultPort)
        guard (1...65535).contains(port) else { throw EventoError.invalid(c.path("port"), "expected 1 to 65535, got \(port)") }
        let replicas = try c.int("replicas") ?? 1
        guard (1...32).contains(replicas) else { throw EventoError.invalid(c.path("replicas"), "expected 1 to 32, got \(replicas)") }
        let environment = try FunctionDefinition.parseEnvironment(&c)
        var cpu: Double?
        if let v = c.value("cpu") {
            switch v {
            case .int(let i): cpu = Double(i)
            case .double(let d): cpu = d
            default: throw EventoError.invalid(c.path("cpu"), "expected a number of cores, got \(v.typeName)")
            }
            guard let cores = cpu, cores > 0, cores <= 1024 else {
                throw EventoError.invalid(c.path("cpu"), "expected more than 0 cores, got \(v.jsonText)")
            }
        }
        let memory = try c.string("memory")
        if let memory, !isValidMemory(memory) {
            throw EventoError.invalid(c.path("memory"), "expected a size like 256m or 1g, got \"\(memory)\"")
        }
        let startTimeoutMs = try c.int("startTimeoutMs") ?? Int64(ContainerSpec.defaultStartTimeoutMs)
        guard (1000...600_000).contains(startTimeoutMs) else {
            throw EventoError.invalid(c.path("startTimeoutMs"), "expected 1000 to 600000 milliseconds, got \(startTimeoutMs)")
        }
        try c.rejectUnknownFields()
        return ContainerSpec(
            image: image, port: Int(port), replicas: Int(replicas), environment: environment, cpu: cpu, memory: memory,
            startTimeoutMs: Int(startTimeoutMs))
    }

    /// `[registry/]name[:tag][@digest]` in the characters image references use.
    static func isValidImageReference(_ s: String) -> Bool {
        guard !s.isEmpty, s.utf8.count <= 255, !s.hasPrefix("-") else { return false }
        return s.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D
                || $0 == 0x2F || $0 == 0x3A || $0 == 0x40
        }
    }

    static func isValidMemory(_ s: String) -> Bool {
        var digits = s[...]
        if let last = digits.last, "bkmgBKMG".contains(last) { digits = digits.dropLast() }
        return !digits.isEmpty && digits.allSatisfy(\.isNumber) && (Int(digits) ?? 0) > 0
    }
}

extension FunctionDefinition {
    /// The container spec of a container function, read and checked; nil for other transports.
    public func containerSpec() throws(EventoError) -> ContainerSpec? {
        guard case .container(let o) = transport else { return nil }
        return try ContainerSpec.parse(o)
    }

    /// The definition with its container spec checked and its defaults filled in (as stored and shown).
    public func normalized() throws(EventoError) -> FunctionDefinition {
        guard let spec = try containerSpec() else { return self }
        var d = self
        d.transport = .container(spec.json.objectValue ?? [:])
        return d
    }
}
