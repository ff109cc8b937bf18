import EventoCore
import Foundation
import Testing

/// Operational faults found by running Evento (issue 15, part 5). Each test failed before its fix.
@Suite(.serialized) struct OperationalFixTests {
    // MARK: 1. Replacing a function

    @Test func putReplacesAFunctionWithARollingSwapAndNoCommandFails() async throws {
        let server = try await ServerProcess()
        let started = try stateDirectory(server, "started")
        // Slow calls, so that some are in flight on the old workers when the definition is swapped.
        let old = Fixtures.python("counter-h", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"), workers: 2,
                                  env: ["SLOW_MS": "150"], maxAttempts: 5)
        #expect(try await server.register(old).status == 201)
        let oldPids = try await server.workerPids("counter-h")
        #expect(oldPids.count == 2)

        // Commands keep coming while the function is replaced: each client sends until the swap has answered
        // and it has had two more replies after that (however slow the machine, the load spans the swap).
        let swapped = Shared<Bool>(false)
        async let load = {
            try await withThrowingTaskGroup(of: [ServerProcess.Reply].self) { group in
                for w in 0..<6 {
                    group.addTask {
                        var replies: [ServerProcess.Reply] = []
                        var i = 0
                        var afterSwap = 0
                        while afterSwap < 2 {
                            let wasSwapped = swapped.withLock { $0 }
                            replies.append(try await server.send("counter:\(w)", "Increment", id: "load-\(w)-\(i)"))
                            i += 1
                            if wasSwapped { afterSwap += 1 }
                        }
                        return replies
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }()
        try await Task.sleep(for: .milliseconds(600))
        var new = old
        new.set("transport", ["process": ["command": ["python3", .string(Fixtures.function("counter.py"))], "workers": 2,
                                          "env": ["EVENTO_RUNTIME_PY": .string(Fixtures.runtimePython), "SLOW_MS": "150",
                                                  "STARTED_DIR": .string(started)]]])
        let replaced = try await server.request("PUT", "/functions/counter-h", body: new.jsonText)
        #expect(replaced.status == 200, "\(replaced.text)")
        #expect(replaced.json["transport"]?["process"]?["env"]?["STARTED_DIR"] == .string(started))
        swapped.withLock { $0 = true }
        let replies = try await load

        #expect(replies.count >= 12)
        for r in replies {
            #expect(r.json["command"]?["status"] == "succeeded", "\(r.text)")
            #expect(r.json["command"]?["attempts"] == 1, "a call failed during the swap: \(r.text)")
        }
        // New calls went to the new workers; the old ones are gone.
        #expect(try FileManager.default.contentsOfDirectory(atPath: started).count > 0, "no command reached the new workers")
        let newPids = try await server.workerPids("counter-h")
        #expect(newPids.count == 2)
        #expect(Set(newPids).isDisjoint(with: oldPids))
        try await eventually("the old workers exited") { oldPids.allSatisfy { kill(Int32($0), 0) != 0 } }
        #expect(try await server.get("/functions/counter-h").json["transport"]?["process"]?["env"]?["STARTED_DIR"] == .string(started))

        // PUT of a new name creates it; a body naming another function is refused; POST of a taken name stays 409.
        var other = Fixtures.python("counter-agg", kind: "aggregator", aggregate: "counter", script: Fixtures.function("counter.py"))
        let created = try await server.request("PUT", "/functions/counter-agg", body: other.jsonText)
        #expect(created.status == 201, "\(created.text)")
        other.set("name", "someone-else")
        let mismatch = try await server.request("PUT", "/functions/counter-agg", body: other.jsonText)
        #expect(mismatch.status == 400)
        #expect(mismatch.json["field"] == "name")
        #expect(try await server.register(old).status == 409)
    }

    /// A replacement waits for the old transport's calls in flight to finish (up to four timeouts); other
    /// registrations go on meanwhile (before, the registry's lock was held through that wait, so a POST of
    /// another function answered only after the slow call had).
    @Test func aReplacementDrainingASlowCallDoesNotHoldUpOtherRegistrations() async throws {
        let server = try await ServerProcess()
        let started = try stateDirectory(server, "slow-started")
        let slow = Fixtures.python("counter-h", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"),
                                   env: ["SLOW_MS": "10000", "STARTED_DIR": started], timeoutMs: 30_000)
        #expect(try await server.register(slow).status == 201)
        let oldPids = try await server.workerPids("counter-h")
        let accepted = try await server.post("/commands", json: ["entity": "counter:slow", "type": "Increment", "payload": [:]])
        #expect(accepted.status == 202, "\(accepted.text)")
        try await eventually("the slow call is in flight") { !(try FileManager.default.contentsOfDirectory(atPath: started).isEmpty) }

        let replaced = Shared<Bool>(false)
        let fast = Fixtures.python("counter-h", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"))
        async let put = { () async throws -> ServerProcess.Reply in
            let r = try await server.request("PUT", "/functions/counter-h", body: fast.jsonText)
            replaced.withLock { $0 = true }
            return r
        }()
        // Swapped (new calls go to the new workers); the old worker is still in its 10 s call.
        try await eventually("the new workers took over") { Set(try await server.workerPids("counter-h")).isDisjoint(with: oldPids) }
        let other = Fixtures.python("other-agg", kind: "aggregator", aggregate: "other", script: Fixtures.function("counter.py"))
        let registered = try await server.register(other)
        #expect(registered.status == 201, "\(registered.text)")
        #expect(replaced.withLock { $0 } == false, "the registration waited for the replaced function's slow call")
        #expect(try await put.status == 200)
        let id = try #require(accepted.json["id"]?.stringValue)
        try await eventually("the slow command finished") { try await server.get("/commands/" + id).json["status"] == "succeeded" }
    }

    @Test func theCLIReplacesFunctionsWithRegisterReplace() async throws {
        let server = try await ServerProcess()
        let file = server.dataDirectory + "/functions.json"
        let definition = Fixtures.python("counter-h", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"))
        try JSONValue.array([definition]).jsonText.write(toFile: file, atomically: true, encoding: .utf8)
        let first = try await runProgram([Binaries.evento, "functions", "register", file, "--url", server.baseURL])
        #expect(first.status == 0, "\(first.err)")
        let again = try await runProgram([Binaries.evento, "functions", "register", file, "--url", server.baseURL])
        #expect(again.status != 0, "a second plain register is refused")
        let pids = try await server.workerPids("counter-h")
        let replaced = try await runProgram([Binaries.evento, "function", "register", "--replace", file, "--url", server.baseURL])
        #expect(replaced.status == 0, "\(replaced.err)")
        #expect(replaced.out.contains("counter-h"))
        try await eventually("the workers were restarted") {
            let now = try await server.workerPids("counter-h")
            return now.count == 1 && Set(now).isDisjoint(with: pids)
        }
        #expect(try await server.send("counter:1", "Increment").json["command"]?["status"] == "succeeded")
    }
}

extension OperationalFixTests {
    // MARK: 2. A dispatcher reply that fails validation is parked at once

    struct BadCommand: CustomTestStringConvertible, Sendable {
        var name: String
        var command: JSONValue
        var error: String
        var testDescription: String { name }
    }

    static let badCommands: [BadCommand] = [
        BadCommand(name: "an entity id with a space", command: ["entity": "checking:has space", "type": "OpenAccount", "payload": ["owner": "A"]],
                   error: "commands[0].entity"),
        BadCommand(name: "an unknown command type", command: ["entity": "checking:x", "type": "NoSuchCommand", "payload": [:]],
                   error: "NoSuchCommand"),
        BadCommand(name: "an invalid payload", command: ["entity": "checking:x", "type": "OpenAccount", "payload": ["owner": 5]],
                   error: "commands[0].payload.owner"),
    ]

    @Test(arguments: badCommands)
    func aDispatchedCommandThatFailsValidationIsParkedAtOnceWithItsError(_ c: BadCommand) async throws {
        let server = try await ServerProcess()
        let calls = try stateDirectory(server, "calls")
        let r = try await server.register(
            Fixtures.python("echo", kind: "dispatcher", events: ["Echo"], script: Fixtures.function("echo_dispatch.py"), env: ["CALLS_DIR": calls],
                            maxAttempts: 5))
        #expect(r.status == 201, "\(r.text)")
        let published = try await server.post("/events", json: ["entity": "echo:1", "type": "Echo", "payload": ["commands": [c.command]]])
        #expect(published.status == 201, "\(published.text)")
        var dead: JSONValue = .null
        try await eventually("the dispatch is parked") {
            dead = try await server.get("/dead-letters").json["deadLetters"]?.arrayValue?.first { $0["kind"] == "dispatch" } ?? .null
            return dead != .null
        }
        #expect(dead["attempts"] == 1, "\(dead)")
        #expect(dead["lastError"]?.stringValue?.contains(c.error) == true, "\(dead)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: calls).count == 1, "the dispatcher was called again")
    }
}

extension OperationalFixTests {
    // MARK: 5. An event record without fields is 5 bytes on Kafka

    @Test func registeringAnEventWithoutFieldsLogsAWarning() async throws {
        let server = try await ServerProcess()
        let schema: JSONValue = [
            ["type": "record", "name": "Pinged", "namespace": "pinger", "evento": "event", "fields": []],
            ["type": "record", "name": "Ponged", "namespace": "pinger", "evento": "event", "fields": [["name": "n", "type": "long"]]],
        ]
        let r = try await server.request("PUT", "/schemas/pinger", body: schema.jsonText)
        #expect(r.status == 201, "\(r.text)")
        try await eventually("the warning is logged") { server.serverLog.contains("event pinger.Pinged has no fields") }
        #expect(!server.serverLog.contains("event pinger.Ponged"))
        // The value is the Confluent framing alone.
        let published = try await server.post("/events", json: ["entity": "pinger:1", "type": "Pinged", "payload": [:]])
        #expect(published.status == 201, "\(published.text)")
        let id = try #require(published.json["id"]?.stringValue)
        #expect(try await server.get("/events/\(id)/avro").text.utf8.count == 5)
    }
}

extension OperationalFixTests {
    // MARK: 6. Server options before the subcommand

    @Test func theServerURLMayComeBeforeTheSubcommand() async throws {
        let server = try await ServerProcess()
        let opened = try await server.post("/events", json: ["id": "open-g", "entity": "checking:g", "type": "AccountOpened", "payload": ["owner": "Ann"]])
        #expect(opened.status == 201, "\(opened.text)")
        let trace = try await runProgram([Binaries.evento, "--url", server.baseURL, "trace", "open-g"])
        #expect(trace.status == 0, "\(trace.err)")
        #expect(trace.out.contains("event AccountOpened checking:g#1  [open-g]"))
        let events = try await runProgram([Binaries.evento, "--url=\(server.baseURL)", "events", "checking:g"])
        #expect(events.status == 0, "\(events.err)")
        #expect(events.out.split(separator: "\n").count == 1)
        let nested = try await runProgram([Binaries.evento, "--url", server.baseURL, "functions", "list"])
        #expect(nested.status == 0, "\(nested.err)")
        // A subcommand that talks to no server does not take it.
        let serve = try await runProgram([Binaries.evento, "--url", server.baseURL, "kafka", "tail"])
        #expect(serve.status != 0)
        #expect(serve.err.contains("--url"), "\(serve.err)")
    }
}

extension OperationalFixTests {
    // MARK: 7. The Debian mirror of the base images

    @Test func theBaseImagesUseDebootstrapsMirrorUnlessOneIsConfigured() async throws {
        // Stand-ins for debootstrap and the engine record how they are called.
        let dir = NSTemporaryDirectory() + "evento-images-" + Identifiers.uuidV7()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeExecutable("#!/bin/sh\necho \"$@\" >> \(dir)/debootstrap.args\n", to: dir + "/debootstrap")
        try writeExecutable("#!/bin/sh\ncase \"$1 $2\" in \"image exists\") exit 1;; esac\ncat >/dev/null 2>&1 || true\nexit 0\n", to: dir + "/engine")
        func run(_ mirror: String?) async throws -> [String] {
            try? FileManager.default.removeItem(atPath: dir + "/debootstrap.args")
            var env = ProcessInfo.processInfo.environment
            env["PATH"] = dir + ":" + (env["PATH"] ?? "/usr/bin:/bin")
            env["EVENTO_CONTAINER_ENGINE"] = dir + "/engine"
            env["EVENTO_DEBIAN_MIRROR"] = mirror
            let r = try await runProgram(["bash", Fixtures.root + "/scripts/container-images.sh", "--rebuild"], environment: env)
            #expect(r.status == 0, "\(r.err)")
            let args = (try? String(contentsOfFile: dir + "/debootstrap.args", encoding: .utf8)) ?? ""
            return args.split(separator: "\n").map(String.init)
        }
        let plain = try await run(nil)
        #expect(plain.count == 2)
        #expect(plain.allSatisfy { $0.split(separator: " ").last?.hasPrefix("/tmp/evento-rootfs.") == true }, "\(plain)")
        let mirrored = try await run("http://mirror.example/debian")
        #expect(mirrored.count == 2)
        #expect(mirrored.allSatisfy { $0.hasSuffix(" http://mirror.example/debian") }, "\(mirrored)")
    }
}

extension OperationalFixTests {
    // MARK: 8. The CLI backs off when the server is overloaded

    @Test func theCLIWaitsAsToldWhenTheServerIsOverloadedAndSaysSo() async throws {
        let overloaded = try await HelperProcess(["python3", Fixtures.root + "/Tests/Fixtures/cli/overloaded.py", "2", "1"])
        let url = try #require(overloaded.url)
        let started = ContinuousClock.now
        let sent = try await runProgram([Binaries.evento, "send", "counter:1", "Increment", "--url", url])
        #expect(sent.status == 0, "\(sent.err)")
        #expect(try JSONParser.parse(sent.out)["id"] == "c-3")
        #expect(sent.err.components(separatedBy: "overloaded (429); trying again in 1 s").count == 3, "\(sent.err)")
        #expect(ContinuousClock.now - started >= .seconds(2), "Retry-After was not honoured")
    }

    @Test func theCLIGivesUpAfterABoundedNumberOfTries() async throws {
        let overloaded = try await HelperProcess(["python3", Fixtures.root + "/Tests/Fixtures/cli/overloaded.py", "1000", "0"])
        let url = try #require(overloaded.url)
        let sent = try await runProgram([Binaries.evento, "publish", "counter:1", "Incremented", "--url", url], timeout: .seconds(30))
        #expect(sent.status != 0)
        #expect(sent.err.components(separatedBy: "trying again").count == 5, "\(sent.err)")
        #expect(sent.err.contains("429 Overloaded: the command backlog is full"), "\(sent.err)")
    }
}

/// The replacement seen by the other instances of a cluster.
@Suite(.serialized, .enabled(if: testPostgresURL != nil, "EVENTO_TEST_POSTGRES_URL names a PostgreSQL server"))
struct ClusterReplaceTests {
    @Test func aFunctionReplacedOnOneInstanceIsRestartedWithItsNewDefinitionOnTheOthers() async throws {
        let servers = try await ClusterTests.cluster(2)
        try await ClusterTests.registerChecking(on: servers)
        let before = try await servers[1].workerPids("checking-handler")
        #expect(before.count == 2)
        let replaced = try await servers[0].request(
            "PUT", "/functions/checking-handler",
            body: JSONValue.object([
                "kind": "handler", "aggregate": "checking",
                "transport": ["process": ["command": [.string(Fixtures.checkingFunction)], "workers": 3]],
            ]).jsonText)
        #expect(replaced.status == 200, "\(replaced.text)")
        try await eventually(timeout: .seconds(20), "the other instance runs the new definition") {
            let f = try await servers[1].get("/functions/checking-handler").json
            let pids = f["status"]?["workers"]?.arrayValue?.compactMap(\.intValue) ?? []
            return f["transport"]?["process"]?["workers"] == 3 && pids.count == 3 && Set(pids).isDisjoint(with: before)
        }
        try await eventually("the other instance's old workers exited") { before.allSatisfy { kill(Int32($0), 0) != 0 } }
        for (i, s) in servers.enumerated() {
            let r = try await s.send("checking:put-\(i)", "OpenAccount", ["owner": "Ann"])
            #expect(r.json["command"]?["status"] == "succeeded", "\(r.text)")
        }
    }
}

extension JSONValue {
    /// Sets a member of an object (tests build definitions by editing a fixture's).
    mutating func set(_ key: String, _ value: JSONValue) {
        guard var o = objectValue else { return }
        o[key] = value
        self = .object(o)
    }
}
