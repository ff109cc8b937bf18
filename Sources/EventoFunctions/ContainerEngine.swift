import EventoCore
import Foundation

/// The container engine Evento deploys container functions with (podman by default, docker when that is
/// what the host has), driven through its command line.
public struct ContainerEngine: Sendable {
    /// How the function containers reach the network.
    public enum Network: String, Sendable, CaseIterable {
        /// Share the host's network: each replica listens on its own host port (given as EVENTO_HTTP_PORT
        /// and PORT), bound to 127.0.0.1. Works where the engine has no bridge networking.
        case host
        /// The engine's default network, the function's port published on 127.0.0.1:HOSTPORT.
        case bridge
    }

    /// The engine's program and global flags, e.g. `podman --runtime runc --cgroup-manager cgroupfs`.
    public var command: [String]
    /// Extra flags of every `run`, e.g. `--ulimit nofile=20000:20000`.
    public var runFlags: [String]
    public var network: Network
    /// Separates the containers of several Evento servers on one host (a label on each container).
    public var instance: String
    /// How often the replicas' health is checked.
    public var healthInterval: Duration = .seconds(1)

    public init(command: [String], runFlags: [String] = [], network: Network = .host, instance: String) {
        self.command = command
        self.runFlags = runFlags
        self.network = network
        self.instance = instance
    }

    /// The default on this host: `$EVENTO_CONTAINER_ENGINE` when set; podman (with runc and cgroupfs when
    /// runc is installed: crun fails on hosts with hybrid cgroups) when present; else docker.
    public static func detect(instance: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> ContainerEngine {
        let runFlags = environment["EVENTO_CONTAINER_RUN_FLAGS"].map(splitWords)
        let network = environment["EVENTO_CONTAINER_NETWORK"].flatMap(Network.init(rawValue:)) ?? .host
        if let configured = environment["EVENTO_CONTAINER_ENGINE"].map(splitWords), !configured.isEmpty {
            return ContainerEngine(command: configured, runFlags: runFlags ?? defaultRunFlags(configured), network: network, instance: instance)
        }
        let podman = onPath("podman", environment: environment)
        let command: [String]
        if podman || !onPath("docker", environment: environment) {
            command = onPath("runc", environment: environment) ? ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"] : ["podman"]
        } else {
            command = ["docker"]
        }
        return ContainerEngine(command: command, runFlags: runFlags ?? defaultRunFlags(command), network: network, instance: instance)
    }

    /// podman as root on hosts with very high default limits needs them bounded for runc.
    public static func defaultRunFlags(_ command: [String]) -> [String] {
        command.first.map { ($0 as NSString).lastPathComponent } == "podman"
            ? ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=1024:1024"] : []
    }

    public static func splitWords(_ s: String) -> [String] { s.split(whereSeparator: \.isWhitespace).map(String.init) }

    static func onPath(_ program: String, environment: [String: String]) -> Bool {
        (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":").contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/\(program)")
        }
    }

    public var name: String { command.first.map { ($0 as NSString).lastPathComponent } ?? "engine" }

    // MARK: Operations

    /// Runs the engine with `arguments` after its command and global flags.
    public func run(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> CommandResult {
        do {
            return try await CommandRunner.run(command + arguments, timeout: timeout)
        } catch let e as EventoError {
            throw EventoError(
                .unavailable, "the container engine is not available (\(command.joined(separator: " "))): \(e.message)",
                field: "transport.container")
        }
    }

    public func imageExists(_ image: String) async throws -> Bool {
        try await run(["image", "inspect", "--format", "{{.Id}}", image]).succeeded
    }

    /// Starts a detached container; returns its id.
    func start(name: String, image: String, labels: [String: String], environment: [String: String], extra: [String]) async throws
        -> String
    {
        // --init: a small init (podman's catatonit, docker's tini) is PID 1 and passes signals on. A program
        // that is PID 1 itself gets no default signal handlers: a plain Python HTTP server ignores SIGTERM,
        // and `stop` then waits its full timeout (10 s) before it kills.
        var args = ["run", "-d", "--init", "--name", name, "--pull", "never"] + runFlags
        for (k, v) in labels.sorted(by: { $0.key < $1.key }) { args += ["--label", "\(k)=\(v)"] }
        for (k, v) in environment.sorted(by: { $0.key < $1.key }) { args += ["--env", "\(k)=\(v)"] }
        args += extra
        args.append(image)
        let r = try await run(args)
        guard r.succeeded, let id = r.output.split(separator: "\n").last.map(String.init), !id.isEmpty else {
            throw EventoError(
                .unavailable, "\(name) did not start: \(self.name) run exited with \(r.status): \(r.tail(3))", field: "transport.container")
        }
        return id
    }

    /// Ids of the containers (running or not) carrying all of `labels`.
    func containers(labelled labels: [String: String]) async throws -> [String] {
        var args = ["ps", "-a", "-q", "--no-trunc"]
        for (k, v) in labels.sorted(by: { $0.key < $1.key }) { args += ["--filter", "label=\(k)=\(v)"] }
        let r = try await run(args)
        guard r.succeeded else { throw EventoError(.unavailable, "\(name) ps failed: \(r.tail(3))") }
        return r.output.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
    }

    /// A container's state, as the engine reports it.
    struct ContainerState: Sendable {
        var id: String
        var running: Bool
        var exitCode: Int
        var labels: [String: String]
    }

    /// The state of each container that still exists.
    func inspect(_ ids: [String]) async throws -> [ContainerState] {
        guard !ids.isEmpty else { return [] }
        let r = try await run(["inspect", "--type", "container"] + ids)
        // A missing id makes inspect fail but it still prints the others.
        guard let parsed = try? JSONParser.parse(Array(r.output.utf8)), let array = parsed.arrayValue else { return [] }
        return array.compactMap { c -> ContainerState? in
            guard let id = c["Id"]?.stringValue else { return nil }
            var labels: [String: String] = [:]
            if let l = c["Config"]?["Labels"]?.objectValue { for m in l { labels[m.key] = m.value.stringValue } }
            return ContainerState(
                id: id, running: c["State"]?["Running"]?.boolValue ?? false, exitCode: Int(c["State"]?["ExitCode"]?.intValue ?? 0),
                labels: labels)
        }
    }

    /// Kills and removes containers; missing ones are fine.
    func remove(_ ids: [String]) async {
        guard !ids.isEmpty else { return }
        // kill first: podman's rm -f would give each container ten seconds to stop.
        _ = try? await run(["kill"] + ids)
        _ = try? await run(["rm", "-f"] + ids)
    }

    func logs(_ id: String, lines: Int = 10) async -> String {
        guard let r = try? await run(["logs", "--tail", String(lines), id]) else { return "" }
        return (r.output + r.errorOutput).split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}
