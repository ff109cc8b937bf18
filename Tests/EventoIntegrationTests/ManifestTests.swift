import EventoCore
import EventoHTTP
import Foundation
import Testing

/// `evento manifest`: the platform's Kubernetes manifests, parsed with PyYAML and checked against the
/// Kubernetes API's own schemas (kubernetes-validate, strict: no unknown fields), and the server's image.
@Suite struct ManifestTests {
    /// Checks every document of the manifest file argv[1] and then the expectations in `extra` (Python,
    /// with `docs`, `by_kind(kind)` and `named(kind, name)` at hand). Prints "ok".
    static func check(_ manifest: String, _ extra: String, arguments: [String] = []) async throws -> (status: Int32, out: String, err: String) {
        let script = """
            import json, sys, yaml
            try:
                import kubernetes_validate
            except ImportError:
                sys.exit("kubernetes-validate is not installed: run scripts/setup.sh (PyPI kubernetes-validate)")
            docs = [d for d in yaml.safe_load_all(open(sys.argv[1]).read())]
            assert docs and all(isinstance(d, dict) for d in docs), docs
            for d in docs:
                assert d.get("apiVersion") and d.get("kind") and d.get("metadata", {}).get("name"), d
                try:
                    kubernetes_validate.validate(d, "1.30.0", strict=True)
                except kubernetes_validate.ValidationError as e:
                    sys.exit("%s/%s does not pass the schema check: %s" % (d["kind"], d["metadata"]["name"], e))
            def by_kind(kind):
                return [d for d in docs if d["kind"] == kind]
            def named(kind, name):
                found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
                assert len(found) == 1, (kind, name, [(d["kind"], d["metadata"]["name"]) for d in docs])
                return found[0]
            def env_of(container):
                return {e["name"]: e for e in container.get("env", [])}
            """ + "\n" + extra + "\nprint(\"ok\")\n"
        return try await runProgram(["python3", "-c", script, try writeTemporary(manifest)] + arguments)
    }

    /// What every platform manifest holds: the Evento instances as a Deployment with their probes, Secret
    /// references and graceful stop, and a Service in front.
    static let platform = """
        server = named("Deployment", "evento")
        pod = server["spec"]["template"]["spec"]
        c = pod["containers"][0]
        env = env_of(c)
        assert server["spec"]["replicas"] == int(sys.argv[2]), server["spec"]
        assert c["image"] == sys.argv[3], c["image"]
        assert c["args"][:5] == ["serve", "--host", "0.0.0.0", "--port", "8080"], c["args"]
        port = {p["name"]: p["containerPort"] for p in c["ports"]}["http"]
        assert port == 8080
        for probe in ("readinessProbe", "livenessProbe"):
            assert c[probe]["httpGet"]["path"] == "/healthz" and c[probe]["httpGet"]["port"] in ("http", 8080), c[probe]
        assert pod["terminationGracePeriodSeconds"] >= 30
        assert env["EVENTO_STORE"]["valueFrom"]["secretKeyRef"] == {"name": "evento-postgres", "key": "url"}, env["EVENTO_STORE"]
        assert env["EVENTO_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "evento-admin", "key": "token"}
        names = [e["name"] for e in c["env"]]
        assert env["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
        assert env["EVENTO_ADVERTISE_URL"]["value"] == "http://$(POD_IP):8080" and names.index("POD_IP") < names.index("EVENTO_ADVERTISE_URL")
        labels = server["spec"]["template"]["metadata"]["labels"]
        assert all(labels[k] == v for k, v in server["spec"]["selector"]["matchLabels"].items())
        service = named("Service", "evento")
        assert all(labels[k] == v for k, v in service["spec"]["selector"].items()) and service["spec"]["ports"][0]["targetPort"] == "http"
        """

    @Test func thePlatformWithTheFunctionsOfAFileParsesAndPassesTheSchemaCheck() async throws {
        let functions = try writeTemporary(
            #"""
            {"functions": [
              {"name": "savings-handler", "kind": "handler", "aggregate": "savings",
               "transport": {"container": {"image": "localhost/evento-fn-savings:latest", "replicas": 2, "memory": "128m", "cpu": 0.5}}},
              {"name": "savings-aggregator", "kind": "aggregator", "aggregate": "savings",
               "transport": {"container": {"image": "localhost/evento-fn-savings:latest", "port": 9000}}},
              {"name": "audit", "kind": "dispatcher", "events": ["*"], "transport": {"http": {"url": "http://audit.example:9000/"}}},
              {"name": "checking-handler", "kind": "handler", "aggregate": "checking",
               "transport": {"process": {"command": ["python3", "checking.py"]}}}
            ]}
            """#)
        let r = try await runProgram(
            [
                Binaries.evento, "manifest", "--functions", functions, "--namespace", "bank", "--replicas", "4",
                "--store-url", "postgres://evento:secret@db.bank:5432/evento", "--registry", "registry.example:5000",
            ])
        #expect(r.status == 0, "\(r.err)")
        let check = try await Self.check(
            r.out,
            Self.platform + """

                assert all(d["metadata"].get("namespace") == "bank" for d in docs if d["kind"] != "Namespace")
                assert named("Namespace", "bank")
                assert named("Secret", "evento-postgres")["stringData"]["url"] == "postgres://evento:secret@db.bank:5432/evento"
                assert len(named("Secret", "evento-admin")["stringData"]["token"]) >= 32
                assert env["EVENTO_KAFKA_BROKERS"]["value"] == "kafka:9092"
                kafka = named("StatefulSet", "kafka")
                assert kafka["spec"]["template"]["spec"]["containers"][0]["image"] == "apache/kafka:3.9.0"
                assert named("Service", "kafka")["spec"]["clusterIP"] == "None"
                assert named("PodDisruptionBudget", "evento")["spec"]["maxUnavailable"] == 1

                # The container functions as Deployments and Services, from the image the cluster pulls.
                handler = named("Deployment", "savings-handler")
                fc = handler["spec"]["template"]["spec"]["containers"][0]
                assert handler["spec"]["replicas"] == 2 and fc["image"] == "registry.example:5000/evento-fn-savings:latest", fc
                assert fc["resources"]["limits"] == {"cpu": "0.5", "memory": "128Mi"}
                assert fc["readinessProbe"]["httpGet"]["path"] == "/healthz"
                assert named("Service", "savings-aggregator")["spec"]["ports"][0]["port"] == 9000
                assert {d["metadata"]["name"] for d in by_kind("Deployment")} == {"evento", "savings-handler", "savings-aggregator"}

                # The instances register them at start as http functions at their Services; the process one is left out.
                assert "--functions" in c["args"] and c["args"][c["args"].index("--functions") + 1] == "/etc/evento/functions.json"
                assert c["volumeMounts"][0]["mountPath"] == "/etc/evento"
                registered = {f["name"]: f for f in json.loads(named("ConfigMap", "evento-functions")["data"]["functions.json"])["functions"]}
                assert set(registered) == {"savings-handler", "savings-aggregator", "audit"}, registered
                assert registered["savings-handler"]["transport"] == {"http": {"url": "http://savings-handler.bank:8080/"}}
                assert registered["savings-aggregator"]["transport"] == {"http": {"url": "http://savings-aggregator.bank:9000/"}}
                assert registered["audit"]["transport"] == {"http": {"url": "http://audit.example:9000/"}}
                assert "checking-handler (python3 checking.py)" in open(sys.argv[1]).read()
                """,
            arguments: ["4", "registry.example:5000/evento-server:latest"])
        #expect(check.status == 0 && check.out.contains("ok"), "\(check.err)\n\(r.out)")
    }

    @Test func theFunctionsOfARunningServerOrACommentWhenItCannotBeReached() async throws {
        let server = try await ServerProcess()
        let registered = try await server.post(
            "/functions", #"{"name":"audit","kind":"dispatcher","events":["*"],"transport":{"http":{"url":"http://audit.example:9000/"}}}"#)
        #expect(registered.status == 201, "\(registered.text)")
        let r = try await runProgram([Binaries.evento, "manifest", "--url", server.baseURL, "--kafka-brokers", "kafka-a:9092,kafka-b:9092"])
        #expect(r.status == 0, "\(r.err)")
        let check = try await Self.check(
            r.out,
            Self.platform + """

                assert env["EVENTO_KAFKA_BROKERS"]["value"] == "kafka-a:9092,kafka-b:9092"
                assert not by_kind("StatefulSet") and not by_kind("Namespace")
                assert named("Secret", "evento-postgres")["stringData"]["url"] == "postgres://USER:PASS@HOST:5432/DB"
                functions = json.loads(named("ConfigMap", "evento-functions")["data"]["functions.json"])["functions"]
                assert [f["name"] for f in functions] == ["audit"], functions
                """,
            arguments: ["3", "localhost/evento-server:latest"])
        #expect(check.status == 0 && check.out.contains("ok"), "\(check.err)\n\(r.out)")

        // No server: the platform without functions, and a comment saying why.
        let down = try await runProgram([Binaries.evento, "manifest", "--url", "http://127.0.0.1:1", "--no-secrets", "--image", "example/evento:2"])
        #expect(down.status == 0, "\(down.err)")
        #expect(down.out.contains("# No functions: cannot reach Evento at http://127.0.0.1:1"))
        #expect(down.err.contains("cannot reach Evento"))
        let downCheck = try await Self.check(
            down.out,
            Self.platform + """

                assert not by_kind("Secret") and not by_kind("ConfigMap") and "--functions" not in c["args"]
                assert {d["metadata"]["name"] for d in by_kind("Deployment")} == {"evento"}
                """,
            arguments: ["3", "example/evento:2"])
        #expect(downCheck.status == 0 && downCheck.out.contains("ok"), "\(downCheck.err)\n\(down.out)")

        let bad = try await runProgram([Binaries.evento, "manifest", "--functions", try writeTemporary(#"{"functions": [{"name": "x"}]}"#)])
        #expect(bad.status != 0)
        #expect(bad.err.contains("functions[0]"), "\(bad.err)")
    }

    /// The server image from this binary on the Debian base image: it starts and answers /healthz.
    @Test func theServerImageRunsTheServer() async throws {
        let run = String(Identifiers.uuidV7().suffix(8)).lowercased()
        let image = "localhost/evento-server-test:\(run)"
        let built = try await runProgram(
            [Binaries.evento, "manifest", "--build-image", "--binary", Binaries.evento, "--image", image, "--url", "http://127.0.0.1:1"],
            timeout: .seconds(300))
        #expect(built.status == 0, "\(built.err)")
        #expect(built.err.contains("built \(image)"), "\(built.err)")
        #expect(built.out.contains("image: \"\(image)\""))

        let port = try freePort()
        let name = "evento-server-test-\(run)"
        // In the foreground: a detached `run -d` leaves conmon holding the descriptor by which Foundation's
        // Process sees its child end, so the test would wait for the container instead.
        let container = ChildProcess()
        container.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        container.arguments =
            ContainerTests.engine + [
                "run", "--rm", "--name", name, "--network", "host", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=1024:1024", image,
                "serve", "--host", "127.0.0.1", "--port", String(port), "--data-dir", "/tmp/evento",
            ]
        container.standardInput = FileHandle.nullDevice
        container.standardOutput = FileHandle.nullDevice
        container.standardError = FileHandle.nullDevice
        try container.run()
        let client = HTTPClient()
        var failure: (any Error)?
        do {
            try await eventually(timeout: .seconds(20), "the server in the image answers GET /healthz") {
                guard let r = try? await client.execute(HTTPClientRequest(method: "GET", url: "http://127.0.0.1:\(port)/healthz", timeout: .seconds(2)))
                else { return false }
                return r.status == 200 && (try? JSONParser.parse(r.body))?["status"] == "ok"
            }
        } catch { failure = error }
        _ = try await ContainerTests.engineRun(["rm", "-f", "-t", "0", name])
        container.terminate()
        _ = try await ContainerTests.engineRun(["rmi", "-f", image])
        if let failure { throw failure }
    }
}
