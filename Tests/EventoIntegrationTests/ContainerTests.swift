import EventoCore
import Foundation
import Testing

/// The container transport against the real engine (podman, installed and set up by .ci/run with the base
/// images of scripts/container-images.sh).
@Suite(.serialized) struct ContainerTests {
    static var engine: [String] {
        ProcessInfo.processInfo.environment["EVENTO_CONTAINER_ENGINE"].map { $0.split(separator: " ").map(String.init) }
            ?? ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
    }

    static func engineRun(_ args: [String]) async throws -> (status: Int32, out: String, err: String) {
        try await runProgram(engine + args, timeout: .seconds(120))
    }

    /// Ids of the containers (running or not) of a function.
    static func containers(of function: String) async throws -> [String] {
        let r = try await engineRun(["ps", "-a", "-q", "--no-trunc", "--filter", "label=io.evento.function=\(function)"])
        #expect(r.status == 0, "\(r.err)")
        return r.out.split(whereSeparator: \.isNewline).map(String.init)
    }

    static func replicas(_ server: ServerProcess, _ name: String) async throws -> [JSONValue] {
        try await server.get("/functions/\(name)").json["status"]?["replicas"]?.arrayValue ?? []
    }

    @Test func bankFlowThroughContainersSurvivesAKilledReplicaARestartAndCleansUpOnDelete() async throws {
        let run = String(Identifiers.uuidV7().suffix(8)).lowercased()
        let image = "localhost/evento-fn-savings-test:\(run)"
        // 1. Build the example function's image from its folder.
        let build = try await runProgram(
            [Binaries.evento, "function", "build", Fixtures.root + "/functions/savings", "--tag", image], timeout: .seconds(600))
        #expect(build.status == 0, "build failed: \(build.err) \(build.out)")
        #expect(build.out.contains("built \(image)"))
        defer { Task.detached { _ = try? await Self.engineRun(["rmi", "-f", image]) } }

        let server = try await ServerProcess()
        let handler = "savings-h-\(run)"
        let aggregator = "savings-a-\(run)"
        // 2. Register it through REST: two replicas of the handler, one of the aggregator.
        let h = try await server.post(
            "/functions",
            #"{"name":"\#(handler)","kind":"handler","aggregate":"savings","transport":{"container":{"image":"\#(image)","replicas":2,"memory":"128m","cpu":0.5}}}"#
        )
        #expect(h.status == 201, "\(h.text)")
        #expect(h.json["transport"]?["container"]?["replicas"] == 2)
        let a = try await server.post(
            "/functions", #"{"name":"\#(aggregator)","kind":"aggregator","aggregate":"savings","transport":{"container":{"image":"\#(image)"}}}"#)
        #expect(a.status == 201, "\(a.text)")
        let started = try await Self.containers(of: handler)
        #expect(started.count == 2)
        let replicasBefore = try await Self.replicas(server, handler)
        #expect(replicasBefore.count == 2 && replicasBefore.allSatisfy { $0["healthy"] == true })

        // 3. The bank flow through the containers.
        let entity = "savings:c\(run)"
        for (type, payload) in [("OpenAccount", #"{"owner":"ann"}"#), ("DepositCash", #"{"amount":100}"#), ("WithdrawCash", #"{"amount":30}"#)] {
            let r = try await server.post("/commands?wait=true", #"{"entity":"\#(entity)","type":"\#(type)","payload":\#(payload)}"#)
            #expect(r.json["command"]?["status"] == "succeeded", "\(type): \(r.text)")
        }
        #expect(try await server.get("/aggregates/\(entity)").json["state"]?["balance"] == 70)

        // 4. Kill a handler container: the next command still succeeds, and the replica is replaced.
        let victim = started[0]
        let killed = try await Self.engineRun(["kill", victim])
        #expect(killed.status == 0, "\(killed.err)")
        let after = try await server.post("/commands?wait=true", #"{"entity":"\#(entity)","type":"DepositCash","payload":{"amount":5}}"#)
        #expect(after.json["command"]?["status"] == "succeeded", "\(after.text)")
        try await eventually(timeout: .seconds(60), "the killed replica replaced by a new, healthy container") {
            let now = try await Self.containers(of: handler)
            let replicas = try await Self.replicas(server, handler)
            return !now.contains(victim) && now.count == 2 && replicas.allSatisfy { $0["healthy"] == true }
        }
        #expect(try await server.get("/functions/\(handler)").json["status"]?["restarts"] == 1)
        let next = try await server.post("/commands?wait=true", #"{"entity":"\#(entity)","type":"DepositCash","payload":{"amount":5}}"#)
        #expect(next.json["command"]?["status"] == "succeeded", "\(next.text)")
        #expect(try await server.get("/aggregates/\(entity)").json["state"]?["balance"] == 80)

        // 5. An orchestrator restart adopts the running containers instead of starting new ones.
        let beforeRestart = Set(try await Self.containers(of: handler))
        try await server.restart()
        #expect(Set(try await Self.containers(of: handler)) == beforeRestart)
        let again = try await server.post("/commands?wait=true", #"{"entity":"\#(entity)","type":"WithdrawCash","payload":{"amount":10}}"#)
        #expect(again.json["command"]?["status"] == "succeeded", "\(again.text)")
        #expect(try await server.get("/aggregates/\(entity)").json["state"]?["balance"] == 70)

        // 6. The cluster manifest of the registered function.
        let manifest = try await runProgram([Binaries.evento, "function", "manifest", handler, "--url", server.baseURL])
        #expect(manifest.status == 0, "\(manifest.err)")
        let check = try await runProgram(
            [
                "python3", "-c",
                """
                import sys, yaml
                docs = list(yaml.safe_load_all(open(sys.argv[1]).read()))
                d, s = docs
                c = d["spec"]["template"]["spec"]["containers"][0]
                env = {e["name"]: e["value"] for e in c["env"]}
                assert d["kind"] == "Deployment" and s["kind"] == "Service", docs
                assert d["spec"]["replicas"] == 2 and c["image"] == sys.argv[2], d
                assert env["EVENTO_HTTP_PORT"] == "8080" and c["resources"]["limits"]["memory"] == "128Mi", c
                assert c["readinessProbe"]["httpGet"]["path"] == "/healthz"
                assert s["spec"]["ports"][0]["port"] == 8080
                print("ok")
                """,
                try writeTemporary(manifest.out), image,
            ])
        #expect(check.out.contains("ok"), "\(check.err)\n\(manifest.out)")

        // 7. DELETE removes the containers.
        #expect(try await server.request("DELETE", "/functions/\(handler)").status == 204)
        #expect(try await server.request("DELETE", "/functions/\(aggregator)").status == 204)
        #expect(try await Self.containers(of: handler).isEmpty)
        #expect(try await Self.containers(of: aggregator).isEmpty)
    }

    @Test func anImageThatDoesNotExistIsAClearProblemNotAHang() async throws {
        let server = try await ServerProcess()
        let started = ContinuousClock.now
        let r = try await server.post(
            "/functions", #"{"name":"ghost","kind":"handler","aggregate":"ghost","transport":{"container":{"image":"localhost/evento-no-such-image:1"}}}"#)
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect((400..<600).contains(r.status))
        #expect(r.header("Content-Type")?.hasPrefix("application/problem+json") == true)
        #expect(r.json["field"] == "transport.container.image")
        #expect(r.json["detail"]?.stringValue?.contains("localhost/evento-no-such-image:1") == true)
        #expect(try await server.get("/functions/ghost").status == 404)
        #expect(try await Self.containers(of: "ghost").isEmpty)
    }

    @Test func aReplicaThatNeverBecomesHealthyFailsTheRegistrationAndLeavesNothing() async throws {
        // An image whose process runs but never serves HTTP.
        let context = NSTemporaryDirectory() + "evento-mute-" + Identifiers.uuidV7()
        try FileManager.default.createDirectory(atPath: context, withIntermediateDirectories: true)
        try "FROM localhost/evento-python:1\nCMD [\"python3\", \"-c\", \"import time; time.sleep(3600)\"]\n"
            .write(toFile: context + "/Containerfile", atomically: true, encoding: .utf8)
        let image = "localhost/evento-test-mute:1"
        let built = try await Self.engineRun(["build", "-q", "--network", "host", "-t", image, context])
        #expect(built.status == 0, "\(built.err)")
        let server = try await ServerProcess()
        let started = ContinuousClock.now
        let r = try await server.post(
            "/functions",
            #"{"name":"mute","kind":"handler","aggregate":"mute","transport":{"container":{"image":"\#(image)","startTimeoutMs":3000}}}"#)
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(r.status == 503, "\(r.text)")
        #expect(r.json["detail"]?.stringValue?.contains("did not answer GET /healthz") == true, "\(r.text)")
        #expect(r.json["field"] == "transport.container")
        #expect(try await Self.containers(of: "mute").isEmpty)
    }

    @Test func registrationsAreValidatedFieldByField() async throws {
        let server = try await ServerProcess()
        for (transport, field) in [
            (#"{"container":{}}"#, "transport.container.image"),
            (#"{"container":{"image":"x","replicas":0}}"#, "transport.container.replicas"),
            (#"{"container":{"image":"x","port":70000}}"#, "transport.container.port"),
            (#"{"container":{"image":"x","memory":"lots"}}"#, "transport.container.memory"),
            (#"{"container":{"image":"x","cpu":"two"}}"#, "transport.container.cpu"),
            (#"{"container":{"image":"x","env":{"A":1}}}"#, "transport.container.env.A"),
            (#"{"container":{"image":"x","volumes":[]}}"#, "transport.container.volumes"),
        ] {
            let r = try await server.post("/functions", #"{"name":"v","kind":"handler","aggregate":"v","transport":\#(transport)}"#)
            #expect(r.status == 400, "\(transport): \(r.text)")
            #expect(r.json["field"]?.stringValue == field, "\(transport): \(r.text)")
        }
    }
}

func writeTemporary(_ text: String) throws -> String {
    let path = NSTemporaryDirectory() + "evento-" + Identifiers.uuidV7()
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// A replica being replaced when its function is deleted: the replacement used to run on in a task of its
/// own and start a container after the DELETE had removed the others.
@Suite(.serialized) struct ContainerLifecycleTests {
    @Test func aReplicaBeingReplacedWhenItsFunctionIsDeletedLeavesNoContainerBehind() async throws {
        let run = String(Identifiers.uuidV7().suffix(8)).lowercased()
        let image = "localhost/evento-fn-savings-test:\(run)"
        let build = try await runProgram(
            [Binaries.evento, "function", "build", Fixtures.root + "/functions/savings", "--tag", image], timeout: .seconds(600))
        #expect(build.status == 0, "build failed: \(build.err) \(build.out)")
        defer { Task.detached { _ = try? await ContainerTests.engineRun(["rmi", "-f", image]) } }
        let server = try await ServerProcess()
        let name = "leak-\(run)"
        let r = try await server.post(
            "/functions", #"{"name":"\#(name)","kind":"handler","aggregate":"savings","transport":{"container":{"image":"\#(image)","replicas":2}}}"#)
        #expect(r.status == 201, "\(r.text)")
        let started = try await ContainerTests.containers(of: name)
        #expect(started.count == 2)
        let victim = try #require(started.first)
        #expect(try await ContainerTests.engineRun(["kill", victim]).status == 0)
        // The supervisor notices within a second and starts a replacement (restarts counts it); delete then.
        try await eventually(timeout: .seconds(20), "the replacement started") {
            try await server.get("/functions/\(name)").json["status"]?["restarts"] == 1
        }
        #expect(try await server.request("DELETE", "/functions/\(name)").status == 204)
        // Long enough for a replacement that outlived the DELETE to have started its container.
        try await Task.sleep(for: .seconds(4))
        let left = try await ContainerTests.containers(of: name)
        #expect(left.isEmpty, "containers left after DELETE: \(left)")
        if !left.isEmpty { _ = try? await ContainerTests.engineRun(["rm", "-f"] + left) }
    }
}
