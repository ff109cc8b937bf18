import ArgumentParser
import EventoCore
import EventoFunctions
import Foundation

/// `evento function build DIR`: a function folder → a container image on the base images in runtime/.
struct BuildImage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build a container image of a function folder (Python or Swift) on Evento's base images.",
        discussion: """
            A folder with a Containerfile (or Dockerfile) is built as it is. A Python folder (main.py, or its one
            .py file) goes on localhost/evento-python:1; a Swift folder (main.swift, built as the package's
            FOLDER-function product with --static-swift-stdlib) on localhost/evento-swift:1. Build the base
            images once with scripts/container-images.sh. Then register it, e.g.:
              evento function build functions/savings
              evento function register functions/savings/container.json
            """)

    @Argument(help: "The function's folder, e.g. functions/savings.") var directory: String
    @Option(help: "The image to build (default: localhost/evento-fn-FOLDER:latest).") var tag: String?
    @Option(help: "The Python file to run (default: main.py, or the folder's only .py file).") var entry: String?
    @Option(help: "The Swift product to build (default: FOLDER-function).") var product: String?
    @Option(help: "The container engine and its global flags (default: as `evento serve` detects it).") var engine: String?

    func run() async throws {
        let fm = FileManager.default
        let dir = URL(fileURLWithPath: directory).standardizedFileURL
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else { throw CLIError("\(directory) is not a folder") }
        let folder = dir.lastPathComponent.lowercased()
        let image = tag ?? "localhost/evento-fn-\(folder):latest"
        var containerEngine = ContainerEngine.detect(instance: "cli")
        if let engine { containerEngine.command = ContainerEngine.splitWords(engine) }
        let files = try fm.contentsOfDirectory(atPath: dir.path).sorted()

        let containerfile: String
        var context = dir.path
        var cleanup: String?
        defer { if let cleanup { try? fm.removeItem(atPath: cleanup) } }
        if let own = ["Containerfile", "Dockerfile"].first(where: files.contains) {
            containerfile = try String(contentsOfFile: dir.appendingPathComponent(own).path, encoding: .utf8)
        } else if files.contains(where: { $0.hasSuffix(".py") }) {
            let python = files.filter { $0.hasSuffix(".py") }
            guard let main = entry ?? (python.contains("main.py") ? "main.py" : (python.count == 1 ? python[0] : nil)) else {
                throw CLIError("\(directory) has several .py files (\(python.joined(separator: ", "))): say which runs with --entry")
            }
            guard python.contains(main) else { throw CLIError("\(directory)/\(main) does not exist") }
            try await requireBase("localhost/evento-python:1", containerEngine)
            containerfile = """
                FROM localhost/evento-python:1
                COPY . /function/
                LABEL io.evento.function-folder="\(folder)"
                CMD ["python3", "/function/\(main)"]
                """
        } else if files.contains("main.swift") {
            let product = product ?? "\(folder)-function"
            try await requireBase("localhost/evento-swift:1", containerEngine)
            FileHandle.standardError.write(Data("building \(product) (release, static Swift stdlib)…\n".utf8))
            let swift = try await CommandRunner.run(
                ["swift", "build", "-c", "release", "--static-swift-stdlib", "--product", product], timeout: .seconds(3600))
            guard swift.succeeded else { throw CLIError("swift build --product \(product) failed:\n\(swift.tail(20))") }
            let bin = try await CommandRunner.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--show-bin-path"])
            let binary = bin.output.trimmingCharacters(in: .whitespacesAndNewlines) + "/" + product
            let staging = NSTemporaryDirectory() + "evento-image-" + Identifiers.uuidV7()
            try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
            cleanup = staging
            try fm.copyItem(atPath: binary, toPath: staging + "/" + product)
            context = staging
            containerfile = """
                FROM localhost/evento-swift:1
                COPY \(product) /function/\(product)
                LABEL io.evento.function-folder="\(folder)"
                CMD ["/function/\(product)"]
                """
        } else {
            throw CLIError("\(directory) has no Containerfile, no .py file and no main.swift: nothing to build")
        }
        let bytes = try await Self.buildImage(containerfile: containerfile, context: context, image: image, engine: containerEngine)
        output("built \(image)" + (bytes > 0 ? " (\(bytes / 1_000_000) MB)" : ""))
        output(
            #"register it: {"name": "…", "kind": "handler", "aggregate": "…", "transport": {"container": {"image": "\#(image)", "replicas": 2}}}"#
        )
    }

    func requireBase(_ image: String, _ engine: ContainerEngine) async throws { try await Self.requireBase(image, engine) }

    static func requireBase(_ image: String, _ engine: ContainerEngine) async throws {
        guard try await engine.imageExists(image) else {
            throw CLIError("the base image \(image) is not built yet: run scripts/container-images.sh (once; needs root and debootstrap)")
        }
    }

    /// Builds `containerfile` in `context` as `image` (host network, the engine's run flags); returns the
    /// image's size in bytes (0 when the engine does not say).
    static func buildImage(containerfile: String, context: String, image: String, engine: ContainerEngine) async throws -> Int {
        let fm = FileManager.default
        let file = NSTemporaryDirectory() + "evento-Containerfile-" + Identifiers.uuidV7()
        try containerfile.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? fm.removeItem(atPath: file) }
        var args = ["build", "-f", file, "-t", image, "--network", "host"]
        args += engine.runFlags
        args.append(context)
        let r = try await engine.run(args, timeout: .seconds(3600))
        guard r.succeeded else { throw CLIError("\(engine.name) build failed:\n\(r.tail(20))") }
        let size = try await engine.run(["image", "inspect", "--format", "{{.Size}}", image])
        return Int(size.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }
}

/// `evento function manifest NAME`: a Kubernetes Deployment + Service for a registered container function.
struct Manifest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a Kubernetes Deployment and Service for a registered container function.",
        discussion: """
            The same image runs in the cluster; register the Service's URL as an http function there:
              evento function manifest savings-handler | kubectl apply -f -
            """)
    @OptionGroup var server: ServerOptions
    @Argument(help: "The function's name.") var name: String
    @Option(help: "The Kubernetes namespace (default: none, kubectl's current).") var namespace: String?
    @Option(help: "The image as the cluster pulls it (default: the registered one; push localhost/ images to a registry first).")
    var image: String?

    func run() async throws {
        var f = try await APIClient(baseURL: server.baseURL).get("/functions/\(pathSegment(name))")
        if case .object(var o) = f {
            o["status"] = nil  // what the server adds about the running replicas
            f = .object(o)
        }
        guard let definition = try? FunctionDefinition.parse(f), let spec = (try? definition.containerSpec()) ?? nil else {
            throw CLIError("\(name) is not a container function (its transport: \(f["transport"]?.jsonText ?? "none"))")
        }
        var clusterSpec = spec
        if let image { clusterSpec.image = image }
        output(KubernetesManifest.render(definition: definition, spec: clusterSpec, namespace: namespace))
    }
}

enum KubernetesManifest {
    static func render(definition: FunctionDefinition, spec: ContainerSpec, namespace: String?) -> String {
        let name = kubernetesName(definition.name)
        let ns = namespace.map { "\n  namespace: \(yaml($0))" } ?? ""
        var env = spec.environment
        env["EVENTO_HTTP_PORT"] = String(spec.port)
        env["EVENTO_HTTP_HOST"] = "0.0.0.0"
        env["EVENTO_FUNCTION"] = definition.name
        let envLines = env.sorted { $0.key < $1.key }.map { "            - name: \(yaml($0.key))\n              value: \(yaml($0.value))" }
            .joined(separator: "\n")
        var limits: [String] = []
        if let cpu = spec.cpu { limits.append("              cpu: \(yaml(String(cpu)))") }
        if let memory = spec.memory { limits.append("              memory: \(yaml(kubernetesMemory(memory)))") }
        let resources = limits.isEmpty ? "" : "\n          resources:\n            limits:\n" + limits.joined(separator: "\n")
        return """
            # \(definition.name): Evento \(definition.kind.rawValue)\(definition.aggregate.map { " of \($0)" } ?? ""), image \(spec.image)
            # Register it with the cluster's Evento as {"http": {"url": "http://\(name)\(namespace.map { ".\($0)" } ?? ""):\(spec.port)/"}}.
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: \(name)\(ns)
              labels:
                app.kubernetes.io/name: \(name)
                app.kubernetes.io/part-of: evento
                io.evento.function: \(yaml(definition.name))
            spec:
              replicas: \(spec.replicas)
              selector:
                matchLabels:
                  app.kubernetes.io/name: \(name)
              template:
                metadata:
                  labels:
                    app.kubernetes.io/name: \(name)
                    app.kubernetes.io/part-of: evento
                spec:
                  containers:
                    - name: function
                      image: \(yaml(spec.image))
                      ports:
                        - name: http
                          containerPort: \(spec.port)
                      env:
            \(envLines)
                      readinessProbe:
                        httpGet: {path: /healthz, port: http}
                        periodSeconds: 2
                      livenessProbe:
                        httpGet: {path: /healthz, port: http}
                        periodSeconds: 10
                        failureThreshold: 3\(resources)
            ---
            apiVersion: v1
            kind: Service
            metadata:
              name: \(name)\(ns)
              labels:
                app.kubernetes.io/name: \(name)
                app.kubernetes.io/part-of: evento
            spec:
              selector:
                app.kubernetes.io/name: \(name)
              ports:
                - name: http
                  port: \(spec.port)
                  targetPort: http
            """
    }

    /// A DNS-1123 label: lower case, digits and '-', at most 63.
    static func kubernetesName(_ s: String) -> String {
        var out = String(s.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }.prefix(63))
        while out.hasSuffix("-") { out.removeLast() }
        while out.hasPrefix("-") { out.removeFirst() }
        return out.isEmpty ? "function" : out
    }

    /// 512m → 512Mi, 1g → 1Gi, plain bytes stay.
    static func kubernetesMemory(_ s: String) -> String {
        guard let last = s.last?.lowercased() else { return s }
        switch last {
        case "k": return s.dropLast() + "Ki"
        case "m": return s.dropLast() + "Mi"
        case "g": return s.dropLast() + "Gi"
        case "b": return String(s.dropLast())
        default: return s
        }
    }

    /// A YAML scalar, double-quoted (JSON string syntax is valid YAML).
    static func yaml(_ s: String) -> String { JSONValue.string(s).jsonText }
}
