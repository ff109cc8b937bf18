import ArgumentParser
import EventoCore
import EventoFunctions
import Foundation

/// `evento manifest`: Kubernetes manifests for the whole platform (docs/kubernetes.md).
struct PlatformManifest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifest",
        abstract: "Print Kubernetes manifests for the platform: Evento instances, their Secrets, a Kafka broker, the container functions.",
        discussion: """
            The Evento instances are a Deployment behind a Service, on the PostgreSQL database named by a Secret (key url, \
            from --store-url or a placeholder to edit), with the admin token from a second Secret. Without --kafka-brokers \
            a one-node Kafka (KRaft) StatefulSet comes along. The container functions come from --functions FILE \
            ({"functions": [ … ]}, as `evento serve --functions` takes) or else from the running Evento at --url; each \
            becomes a Deployment and a Service, and the instances register them as http functions at those Services. \
            docs/kubernetes.md has the details.

              evento manifest --functions functions/savings/container.json --namespace bank | kubectl apply -f -
              evento manifest --build-image --binary .build/release/evento > evento.yaml
            """)

    @OptionGroup var server: ServerOptions
    @Option(help: "A JSON file of function definitions, {\"functions\": [ … ]} (default: those registered on the server at --url).")
    var functions: String?
    @Option(help: "The Kubernetes namespace (default: none, kubectl's current); a Namespace object is included.")
    var namespace: String?
    @Option(help: "How many Evento instances.") var replicas: Int = 3
    @Option(help: "The Evento server image.") var image: String = "localhost/evento-server:latest"
    @Option(name: .customLong("store-secret"), help: "The Secret holding the PostgreSQL URL under the key url.")
    var storeSecret: String = "evento-postgres"
    @Option(name: .customLong("store-url"), help: "The PostgreSQL URL written into that Secret (default: a placeholder to edit).")
    var storeURL: String?
    @Option(name: .customLong("admin-token"), help: "The admin token written into the evento-admin Secret (default: $EVENTO_ADMIN_TOKEN, else a random one).")
    var adminToken: String?
    @Flag(name: .customLong("no-secrets"), help: "Leave the two Secrets out (they exist already in the cluster).")
    var noSecrets = false
    @Option(name: .customLong("kafka-brokers"), help: "Existing Kafka brokers HOST:PORT[,…]; without it a one-broker Kafka StatefulSet is included.")
    var kafkaBrokers: String?
    @Option(name: .customLong("kafka-image"), help: "The image of that Kafka broker.") var kafkaImage: String = "apache/kafka:3.9.0"
    @Option(help: "A registry the cluster pulls from: every localhost/NAME image becomes REGISTRY/NAME (push them there first).")
    var registry: String?
    @Flag(name: .customLong("build-image"), help: "First build the server image (--image) from --binary on localhost/evento-rootfs:bookworm.")
    var buildImage = false
    @Option(help: "The evento binary put in the image (default: this one; a release build is smaller).") var binary: String?
    @Option(help: "The container engine and its global flags (default: as `evento serve` detects it).") var engine: String?

    static let port = 8080
    static let adminSecret = "evento-admin"
    static let storePlaceholder = "postgres://USER:PASS@HOST:5432/DB"
    static let rootfs = "localhost/evento-rootfs:bookworm"

    func validate() throws {
        guard replicas >= 1 else { throw ValidationError("--replicas: expected at least 1, got \(replicas)") }
        if let namespace, KubernetesManifest.kubernetesName(namespace) != namespace {
            throw ValidationError("--namespace: \(namespace) is not a Kubernetes name (lower case letters, digits and -)")
        }
        if KubernetesManifest.kubernetesName(storeSecret) != storeSecret {
            throw ValidationError("--store-secret: \(storeSecret) is not a Kubernetes name (lower case letters, digits and -)")
        }
        if let binary, !FileManager.default.isExecutableFile(atPath: binary) { throw ValidationError("--binary: \(binary) is not an executable file") }
    }

    func run() async throws {
        if buildImage {
            var containerEngine = ContainerEngine.detect(instance: "cli")
            if let engine { containerEngine.command = ContainerEngine.splitWords(engine) }
            let program = try binary ?? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
            try await Self.buildServerImage(binary: program, image: image, engine: containerEngine)
        }
        let source = try await loadFunctions()
        output(try render(functions: source.functions, note: source.note))
    }

    // MARK: The functions

    /// The function definitions from --functions FILE, or the server's; a note (a YAML comment) when neither.
    func loadFunctions() async throws -> (functions: [FunctionDefinition], note: String?) {
        let items: [JSONValue]
        let origin: String
        if let file = functions {
            let value: JSONValue
            do { value = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: file)))) } catch {
                throw CLIError("--functions \(file): cannot read it as JSON: \(error)")
            }
            guard let list = value["functions"]?.arrayValue ?? value.arrayValue else {
                throw CLIError("--functions \(file): expected {\"functions\": [ … ]} or [ … ]")
            }
            items = list
            origin = file
        } else {
            do {
                items = try await APIClient(baseURL: server.baseURL).get("/functions", timeout: .seconds(10))["functions"]?.arrayValue ?? []
                origin = server.baseURL
            } catch {
                let note = "No functions: \(error). Pass --url of a running Evento or --functions FILE."
                FileHandle.standardError.write(Data("evento manifest: \(note)\n".utf8))
                return ([], note)
            }
        }
        var definitions: [FunctionDefinition] = []
        for (i, item) in items.enumerated() {
            var item = item
            if case .object(var o) = item {
                o["status"] = nil  // what a server adds about the running replicas
                item = .object(o)
            }
            do { definitions.append(try FunctionDefinition.parse(item, path: "functions[\(i)]")) } catch {
                throw CLIError("\(origin): \(error.message)")
            }
        }
        return (definitions, definitions.isEmpty ? "No functions are registered (\(origin))." : nil)
    }

    // MARK: Rendering

    func render(functions: [FunctionDefinition], note: String?) throws -> String {
        var docs: [String] = []
        var header = [
            "Evento platform manifests, printed by `evento manifest` (docs/kubernetes.md).",
            "\(replicas) Evento instances on the PostgreSQL database of Secret \(storeSecret); Kafka at \(kafkaBrokers ?? "the kafka StatefulSet below").",
        ]
        if !noSecrets && storeURL == nil {
            header.append("Edit the url of Secret \(storeSecret) (or pass --store-url) before applying.")
        }
        let meta = Metadata(namespace: namespace)

        if let namespace { docs.append(YAML.document(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(namespace)]])) }

        if !noSecrets {
            let token = adminToken ?? Environment.get("EVENTO_ADMIN_TOKEN") ?? Self.randomToken()
            docs.append(
                YAML.document(
                    [
                        "apiVersion": "v1", "kind": "Secret", "metadata": meta.object(storeSecret, component: "store"), "type": "Opaque",
                        "stringData": ["url": .string(storeURL ?? Self.storePlaceholder)],
                    ], comments: ["The PostgreSQL database the Evento instances share (EVENTO_STORE)."]))
            docs.append(
                YAML.document(
                    [
                        "apiVersion": "v1", "kind": "Secret", "metadata": meta.object(Self.adminSecret, component: "server"), "type": "Opaque",
                        "stringData": ["token": .string(token)],
                    ], comments: ["EVENTO_ADMIN_TOKEN: every change and the administration reads need `Authorization: Bearer TOKEN`."]))
        }

        // The functions, each as the cluster reaches it.
        var clusterDefinitions: [JSONValue] = []
        var functionDocs: [String] = []
        var skipped: [String] = []
        var names: Set<String> = ["evento", "kafka", storeSecret, Self.adminSecret, "evento-functions"]
        for definition in functions {
            switch definition.transport {
            case .container:
                guard var spec = try definition.containerSpec() else { continue }
                spec.image = pulled(spec.image)
                let name = KubernetesManifest.kubernetesName(definition.name)
                guard names.insert(name).inserted else {
                    throw CLIError("the function \(definition.name) would be named \(name) in Kubernetes, like another object here: rename it")
                }
                functionDocs.append(KubernetesManifest.render(definition: definition, spec: spec, namespace: namespace))
                var http = definition
                http.transport = .http(url: "http://\(name)\(namespace.map { ".\($0)" } ?? ""):\(spec.port)/")
                clusterDefinitions.append(http.json)
            case .http:
                clusterDefinitions.append(definition.json)
            case .process(let command, _, _, _):
                skipped.append("\(definition.name) (\(command.joined(separator: " ")))")
            }
        }
        var functionComments: [String] = []
        if let note { functionComments.append(note) }
        if !skipped.isEmpty {
            functionComments.append(
                "Left out, process functions whose programs are not in the server image: \(skipped.joined(separator: ", ")). "
                    + "Build them as container functions (evento function build) or serve them over HTTP.")
        }

        if !clusterDefinitions.isEmpty {
            let file = "{\"functions\": [\n" + clusterDefinitions.map { "  " + $0.jsonText }.joined(separator: ",\n") + "\n]}\n"
            docs.append(
                YAML.document(
                    [
                        "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta.object("evento-functions", component: "server"),
                        "data": ["functions.json": .string(file)],
                    ],
                    comments: ["The functions every instance registers at start (evento serve --functions); container functions as their Services."]))
        }
        docs.append(YAML.document(serverDeployment(meta, hasFunctions: !clusterDefinitions.isEmpty), comments: ["The Evento instances."]))
        docs.append(
            YAML.document([
                "apiVersion": "v1", "kind": "Service", "metadata": meta.object("evento", component: "server"),
                "spec": [
                    "selector": ["app.kubernetes.io/name": "evento"],
                    "ports": [["name": "http", "port": .int(Int64(Self.port)), "targetPort": "http"]],
                ],
            ]))
        docs.append(
            YAML.document(
                [
                    "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta.object("evento", component: "server"),
                    "spec": ["maxUnavailable": 1, "selector": ["matchLabels": ["app.kubernetes.io/name": "evento"]]],
                ], comments: ["Voluntary evictions (node drains) take one instance at a time; its partitions move to the others."]))
        if kafkaBrokers == nil { docs += kafka(meta) }
        // Comments go with a document (a document of comments only would be an empty one).
        if functionDocs.isEmpty {
            if functionComments.isEmpty { functionComments.append("No container functions.") }
            docs[docs.count - 1] += "\n" + YAML.document(nil, comments: functionComments)
        } else if !functionComments.isEmpty {
            functionDocs[0] = YAML.document(nil, comments: functionComments) + "\n" + functionDocs[0]
        }
        docs += functionDocs
        return YAML.document(nil, comments: header) + "\n" + docs.joined(separator: "\n---\n")
    }

    func serverDeployment(_ meta: Metadata, hasFunctions: Bool) -> JSONValue {
        var args: [JSONValue] = ["serve", "--host", "0.0.0.0", "--port", .string(String(Self.port))]
        if hasFunctions { args += ["--functions", "/etc/evento/functions.json"] }
        let env: [JSONValue] = [
            ["name": "POD_IP", "valueFrom": ["fieldRef": ["fieldPath": "status.podIP"]]],
            ["name": "EVENTO_ADVERTISE_URL", "value": .string("http://$(POD_IP):\(Self.port)")],
            ["name": "EVENTO_STORE", "valueFrom": ["secretKeyRef": ["name": .string(storeSecret), "key": "url"]]],
            ["name": "EVENTO_ADMIN_TOKEN", "valueFrom": ["secretKeyRef": ["name": .string(Self.adminSecret), "key": "token"]]],
            ["name": "EVENTO_KAFKA_BROKERS", "value": .string(kafkaBrokers ?? "kafka:9092")],
        ]
        var container: JSONObject = [
            "name": "evento",
            "image": .string(pulled(image)),
            "args": .array(args),
            "ports": [["name": "http", "containerPort": .int(Int64(Self.port))]],
            "env": .array(env),
            "readinessProbe": ["httpGet": ["path": "/healthz", "port": "http"], "periodSeconds": 2, "failureThreshold": 2, "timeoutSeconds": 2],
            "livenessProbe": [
                "httpGet": ["path": "/healthz", "port": "http"], "initialDelaySeconds": 10, "periodSeconds": 10, "failureThreshold": 3,
                "timeoutSeconds": 5,
            ],
            // Out of the Service's endpoints before SIGTERM; then the instance hands its partitions over.
            "lifecycle": ["preStop": ["exec": ["command": ["sleep", "5"]]]],
        ]
        if hasFunctions { container["volumeMounts"] = [["name": "functions", "mountPath": "/etc/evento", "readOnly": true]] }
        var pod: JSONObject = [
            "terminationGracePeriodSeconds": 60,
            "enableServiceLinks": false,
            "affinity": [
                "podAntiAffinity": [
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        [
                            "weight": 100,
                            "podAffinityTerm": [
                                "topologyKey": "kubernetes.io/hostname", "labelSelector": ["matchLabels": ["app.kubernetes.io/name": "evento"]],
                            ],
                        ]
                    ]
                ]
            ],
            "containers": [.object(container)],
        ]
        if hasFunctions { pod["volumes"] = [["name": "functions", "configMap": ["name": "evento-functions"]]] }
        return [
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta.object("evento", component: "server"),
            "spec": [
                "replicas": .int(Int64(replicas)),
                "selector": ["matchLabels": ["app.kubernetes.io/name": "evento"]],
                "strategy": ["type": "RollingUpdate", "rollingUpdate": ["maxUnavailable": 1, "maxSurge": 1]],
                "template": ["metadata": ["labels": meta.labels("evento", component: "server")], "spec": .object(pod)],
            ],
        ]
    }

    /// A one-node Kafka in KRaft mode (broker and controller), for development and small clusters.
    func kafka(_ meta: Metadata) -> [String] {
        let env: [JSONValue] = [
            ["name": "POD_NAME", "valueFrom": ["fieldRef": ["fieldPath": "metadata.name"]]],
            ["name": "POD_NAMESPACE", "valueFrom": ["fieldRef": ["fieldPath": "metadata.namespace"]]],
            ["name": "KAFKA_NODE_ID", "value": "1"],
            ["name": "KAFKA_PROCESS_ROLES", "value": "broker,controller"],
            ["name": "KAFKA_LISTENERS", "value": "PLAINTEXT://:9092,CONTROLLER://:9093"],
            ["name": "KAFKA_ADVERTISED_LISTENERS", "value": "PLAINTEXT://$(POD_NAME).kafka.$(POD_NAMESPACE).svc:9092"],
            ["name": "KAFKA_CONTROLLER_LISTENER_NAMES", "value": "CONTROLLER"],
            ["name": "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "value": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"],
            ["name": "KAFKA_CONTROLLER_QUORUM_VOTERS", "value": "1@localhost:9093"],
            ["name": "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "value": "1"],
            ["name": "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "value": "1"],
            ["name": "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "value": "1"],
            ["name": "KAFKA_LOG_DIRS", "value": "/var/lib/kafka/data"],
        ]
        let container: JSONValue = [
            "name": "kafka",
            "image": .string(pulled(kafkaImage)),
            "ports": [["name": "kafka", "containerPort": 9092], ["name": "controller", "containerPort": 9093]],
            "env": .array(env),
            "readinessProbe": ["tcpSocket": ["port": "kafka"], "periodSeconds": 5],
            "volumeMounts": [["name": "data", "mountPath": "/var/lib/kafka/data"]],
        ]
        let statefulSet: JSONValue = [
            "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta.object("kafka", component: "kafka"),
            "spec": [
                "serviceName": "kafka",
                "replicas": 1,
                "selector": ["matchLabels": ["app.kubernetes.io/name": "kafka"]],
                "template": [
                    "metadata": ["labels": meta.labels("kafka", component: "kafka")],
                    "spec": [
                        "enableServiceLinks": false,  // KAFKA_PORT & co. would be read as broker settings
                        "securityContext": ["fsGroup": 1000],  // the image runs as appuser (1000)
                        "containers": [container],
                    ],
                ],
                "volumeClaimTemplates": [
                    [
                        "metadata": ["name": "data"],
                        "spec": ["accessModes": ["ReadWriteOnce"], "resources": ["requests": ["storage": "10Gi"]]],
                    ]
                ],
            ],
        ]
        let service: JSONValue = [
            "apiVersion": "v1", "kind": "Service", "metadata": meta.object("kafka", component: "kafka"),
            "spec": [
                "clusterIP": "None",
                "selector": ["app.kubernetes.io/name": "kafka"],
                "ports": [["name": "kafka", "port": 9092], ["name": "controller", "port": 9093]],
            ],
        ]
        return [
            YAML.document(
                service,
                comments: [
                    "Kafka for kf-evento-events: one broker (KRaft, no ZooKeeper), replication factor 1.",
                    "For production point --kafka-brokers at a replicated cluster instead.",
                ]),
            YAML.document(statefulSet),
        ]
    }

    /// The image as the cluster pulls it.
    func pulled(_ image: String) -> String {
        guard let registry, image.hasPrefix("localhost/") else { return image }
        let r = registry.hasSuffix("/") ? String(registry.dropLast()) : registry
        return r + "/" + image.dropFirst("localhost/".count)
    }

    static func randomToken() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &g)) }.joined()
    }

    struct Metadata {
        var namespace: String?

        func labels(_ name: String, component: String) -> JSONValue {
            ["app.kubernetes.io/name": .string(name), "app.kubernetes.io/part-of": "evento", "app.kubernetes.io/component": .string(component)]
        }

        func object(_ name: String, component: String) -> JSONValue {
            var o: JSONObject = ["name": .string(name)]
            if let namespace { o["namespace"] = .string(namespace) }
            o["labels"] = labels(name, component: component)
            return .object(o)
        }
    }

    // MARK: The server image

    /// Builds `image`: `binary` and the shared libraries it loads (but glibc's, which the Debian base has) on
    /// localhost/evento-rootfs:bookworm. Progress goes to stderr (stdout is the manifest).
    static func buildServerImage(binary: String, image: String, engine: ContainerEngine) async throws {
        let fm = FileManager.default
        try await BuildImage.requireBase(rootfs, engine)
        let ldd = try await CommandRunner.run(["ldd", binary])
        guard ldd.succeeded else { throw CLIError("ldd \(binary) failed: \(ldd.tail())") }
        let libraries = sharedLibraries(ldd: ldd.output)
        let staging = NSTemporaryDirectory() + "evento-server-image-" + Identifiers.uuidV7()
        try fm.createDirectory(atPath: staging + "/lib", withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: staging) }
        try fm.copyItem(atPath: URL(fileURLWithPath: binary).resolvingSymlinksInPath().path, toPath: staging + "/evento")
        for (name, path) in libraries {
            try fm.copyItem(atPath: URL(fileURLWithPath: path).resolvingSymlinksInPath().path, toPath: staging + "/lib/" + name)
        }
        // TLS clients (https functions, PostgreSQL with sslmode) need the CA bundle; minbase has none.
        let caBundle = "/etc/ssl/certs/ca-certificates.crt"
        let hasCA = fm.fileExists(atPath: caBundle)
        if hasCA { try fm.copyItem(atPath: caBundle, toPath: staging + "/ca-certificates.crt") }
        let containerfile = """
            FROM \(rootfs)
            COPY lib/ /opt/evento/lib/
            COPY evento /usr/local/bin/evento
            \(hasCA ? "COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt" : "")
            ENV LD_LIBRARY_PATH=/opt/evento/lib
            WORKDIR /var/lib/evento
            EXPOSE \(port)
            LABEL io.evento.server="evento"
            ENTRYPOINT ["/usr/local/bin/evento"]
            CMD ["serve", "--host", "0.0.0.0", "--port", "\(port)"]
            """
        FileHandle.standardError.write(Data("building \(image) from \(binary) and \(libraries.count) shared libraries on \(rootfs)…\n".utf8))
        let bytes = try await BuildImage.buildImage(containerfile: containerfile, context: staging, image: image, engine: engine)
        FileHandle.standardError.write(Data("built \(image)\(bytes > 0 ? " (\(bytes / 1_000_000) MB)" : "")\n".utf8))
    }

    /// `ldd`'s resolved libraries (soname, path), glibc's own left out (the base image has the same Debian's).
    static func sharedLibraries(ldd: String) -> [(name: String, path: String)] {
        let glibc = ["linux-vdso", "ld-linux", "libc.so", "libm.so", "libdl.so", "libpthread.so", "librt.so", "libresolv.so", "libutil.so"]
        var out: [(name: String, path: String)] = []
        for line in ldd.split(separator: "\n") {
            let parts = line.split(whereSeparator: \.isWhitespace)
            guard parts.count >= 3, parts[1] == "=>", parts[2].hasPrefix("/") else { continue }
            let name = String(parts[0])
            if glibc.contains(where: { name.hasPrefix($0) }) { continue }
            out.append((name, String(parts[2])))
        }
        return out
    }
}

/// A small YAML writer for manifests: block style, strings plain when YAML reads them back as the same
/// string, else double-quoted (JSON string syntax is valid YAML); multi-line strings as literal blocks.
enum YAML {
    /// A document: comment lines, then the value (nil: comments only).
    static func document(_ value: JSONValue?, comments: [String] = []) -> String {
        var lines = comments.flatMap { $0.split(separator: "\n", omittingEmptySubsequences: false).map { "# " + $0 } }
        if let value { lines += node(value, indent: 0) }
        return lines.joined(separator: "\n")
    }

    static func node(_ value: JSONValue, indent: Int) -> [String] {
        let pad = String(repeating: " ", count: indent)
        switch value {
        case .object(let o):
            if o.members.isEmpty { return [pad + "{}"] }
            var lines: [String] = []
            for m in o.members {
                let key = pad + scalar(.string(m.key)) + ":"
                lines += member(key, m.value, indent: indent)
            }
            return lines
        case .array(let items):
            if items.isEmpty { return [pad + "[]"] }
            var lines: [String] = []
            for item in items {
                switch item {
                case .object(let o) where !o.members.isEmpty:
                    // The first member on the dash's line, the others under it.
                    var inner = node(item, indent: indent + 2)
                    inner[0] = pad + "- " + inner[0].dropFirst(indent + 2)
                    lines += inner
                case .array(let a) where !a.isEmpty:
                    lines.append(pad + "-")
                    lines += node(item, indent: indent + 2)
                case .string(let s) where s.contains("\n"):
                    lines += member(pad + "-", item, indent: indent)
                default:
                    lines.append(pad + "- " + scalar(item))
                }
            }
            return lines
        default:
            return [pad + scalar(value)]
        }
    }

    /// `prefix` (a key and colon, or a dash) followed by the value, inline or nested.
    private static func member(_ prefix: String, _ value: JSONValue, indent: Int) -> [String] {
        switch value {
        case .object(let o) where !o.members.isEmpty: return [prefix] + node(value, indent: indent + 2)
        case .array(let a) where !a.isEmpty: return [prefix] + node(value, indent: indent + 2)
        case .string(let s) where s.contains("\n") && !s.hasPrefix(" ") && !s.hasPrefix("\t") && !s.contains("\r"):
            let pad = String(repeating: " ", count: indent + 2)
            var body = s
            let keep = body.hasSuffix("\n")
            if keep { body.removeLast() }
            guard !body.hasSuffix("\n") else { return [prefix + " " + scalar(value)] }  // several trailing newlines
            return [prefix + (keep ? " |" : " |-")] + body.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : pad + $0 }
        default: return [prefix + " " + scalar(value)]
        }
    }

    static func scalar(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): return isPlain(s) ? s : value.jsonText
        case .object: return "{}"
        case .array: return "[]"
        default: return value.jsonText
        }
    }

    /// Words YAML 1.1 or 1.2 would read as something other than a string.
    private static let reserved: Set<String> = ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"]

    static func isPlain(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first.properties.isAlphabetic || first == "/" || first == "_" else { return false }
        guard s.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._/-".unicodeScalars.contains($0)) })
        else { return false }
        return !reserved.contains(s.lowercased())
    }
}
