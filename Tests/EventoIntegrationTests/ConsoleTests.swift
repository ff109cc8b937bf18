import EventoCore
import Foundation
import Testing

/// The web console (`/ui`): its HTTP shape here, and the pages in a real browser (Playwright driving
/// Debian's Chromium, `Tests/Fixtures/console/console_test.py`). Screenshots land in `test-artifacts/console`.
@Suite(.serialized) struct ConsoleTests {
    /// The bank's functions (checking in Swift, savings and the transfer saga in Python), and a handler
    /// for `flag` that fails until its mode file says "ok" (dies at its first failure).
    func registerBank(on server: ServerProcess, modeFile: String, headers: [(name: String, value: String)] = []) async throws {
        for (name, kind) in [("checking-handler", "handler"), ("checking-aggregator", "aggregator")] {
            let r = try await server.register(
                [
                    "name": .string(name), "kind": .string(kind), "aggregate": "checking",
                    "transport": ["process": ["command": [.string(Fixtures.checkingFunction)], "workers": 1]],
                ], headers: headers)
            #expect(r.status == 201, "\(r.text)")
        }
        for (name, kind) in [("savings-handler", "handler"), ("savings-aggregator", "aggregator")] {
            let r = try await server.register(
                Fixtures.python(name, kind: kind, aggregate: "savings", script: Fixtures.root + "/functions/savings/savings.py"), headers: headers)
            #expect(r.status == 201, "\(r.text)")
        }
        // The transfer saga: handler, aggregator and dispatcher in one program (functions/bank.json's).
        let transfer = Fixtures.root + "/functions/transfer/transfer.py"
        for kind in ["handler", "aggregator"] {
            #expect(try await server.register(Fixtures.python("transfer-\(kind)", kind: kind, aggregate: "transfer", script: transfer), headers: headers).status == 201)
        }
        let events = [
            "transfer.TransferRequested", "transfer.WithdrawalRecorded", "transfer.RefundIssued", "checking.CashWithdrawn", "checking.WithdrawalRejected",
            "checking.CashDeposited", "checking.CommandRejected", "savings.CashWithdrawn", "savings.WithdrawalRejected", "savings.CashDeposited",
            "savings.CommandRejected",
        ]
        let dispatcher = Fixtures.python("transfer-dispatcher", kind: "dispatcher", events: events, script: transfer)
        #expect(try await server.register(dispatcher, headers: headers).status == 201)
        let flag = Fixtures.python(
            "flag-handler", kind: "handler", aggregate: "flag", script: Fixtures.function("switchable.py"), env: ["MODE_FILE": modeFile], maxAttempts: 1)
        #expect(try await server.register(flag, headers: headers).status == 201)
    }

    @Test func theConsoleIsOnePageForEveryAddressWithHashedAssets() async throws {
        let server = try await ServerProcess()
        for path in ["/ui", "/ui/entities/checking:ann", "/ui/trace/x", "/ui/functions", "/ui/dead-letters", "/ui/commands?status=dead"] {
            let r = try await server.get(path)
            #expect(r.status == 200, "\(path)")
            #expect(r.header("Content-Type") == "text/html; charset=utf-8")
            #expect(r.header("Cache-Control") == "no-cache")
            #expect(r.header("Content-Security-Policy")?.contains("script-src 'self'") == true)
        }
        let page = try await server.get("/ui").text
        let script = try #require(page.range(of: #"/ui/assets/console\.[0-9a-f]{12}\.js"#, options: .regularExpression).map { String(page[$0]) })
        let js = try await server.get(script)
        #expect(js.status == 200)
        #expect(js.header("Content-Type") == "text/javascript; charset=utf-8")
        #expect(js.header("Cache-Control")?.contains("immutable") == true)
        #expect(try await server.get("/ui/assets/console.000000000000.js").status == 404)
    }

    @Test func entitiesAndCommandsAreListedPageByPage() async throws {
        let server = try await ServerProcess()
        for i in 0..<5 {
            #expect(try await server.post("/events", json: ["entity": .string("acct:\(i)"), "type": "Opened", "payload": [:]]).status == 201)
        }
        #expect(try await server.post("/events", json: ["entity": "other:1", "type": "Opened", "payload": [:]]).status == 201)
        let first = try await server.get("/entities?prefix=acct:&limit=3").json
        #expect(first["entities"] == ["acct:0", "acct:1", "acct:2"])
        #expect(first["next"] == "acct:2")
        let second = try await server.get("/entities?prefix=acct:&limit=3&after=acct:2").json
        #expect(second["entities"] == ["acct:3", "acct:4"])
        #expect(second["next"] == nil)
        #expect(try await server.get("/entities?prefix=acct:3").json["entities"] == ["acct:3"])
        #expect(try await server.get("/entities").status == 400)

        let modeFile = server.dataDirectory + "/mode"
        try "fail".write(toFile: modeFile, atomically: true, encoding: .utf8)
        let flag = Fixtures.python(
            "flag-handler", kind: "handler", aggregate: "flag", script: Fixtures.function("switchable.py"), env: ["MODE_FILE": modeFile], maxAttempts: 1)
        #expect(try await server.register(flag).status == 201)
        for i in 0..<3 { _ = try await server.send("flag:\(i)", "Raise", id: "dead-\(i)") }
        let dead = try await server.get("/commands?status=dead&limit=2").json
        #expect(dead["commands"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["dead-2", "dead-1"])
        let next = try #require(dead["nextBeforeSeq"]?.intValue)
        let older = try await server.get("/commands?status=dead&limit=2&beforeSeq=\(next)").json
        #expect(older["commands"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["dead-0"])
        #expect(older["nextBeforeSeq"] == nil)
        #expect(try await server.get("/commands?status=pending").json["commands"] == [])
        #expect(try await server.get("/commands?status=lost").status == 400)
    }

    @Test func theConsoleWorksInABrowser() async throws {
        guard Self.browserAvailable else {
            Issue.record("chromium and Python's playwright are needed (scripts/setup.sh installs them)")
            return
        }
        // Schemaless aggregates allowed (the flag fixture has no schema); the bank's schemas apply all the same.
        let server = try await ServerProcess()
        let token = "console-test-token"
        let guarded = try await ServerProcess(environment: ["EVENTO_ADMIN_TOKEN": token])
        let modeFile = server.dataDirectory + "/mode"
        try "fail".write(toFile: modeFile, atomically: true, encoding: .utf8)
        try await registerBank(on: server, modeFile: modeFile)
        try await registerBank(on: guarded, modeFile: modeFile, headers: [("Authorization", "Bearer " + token)])

        // The README's walk-through: two accounts, a deposit, a transfer; and a command that dies.
        #expect(try await server.send("checking:ann", "OpenAccount", ["owner": "Ann"]).json["command"]?["status"] == "succeeded")
        #expect(try await server.send("savings:ann", "OpenAccount", ["owner": "Ann"]).json["command"]?["status"] == "succeeded")
        #expect(try await server.send("checking:ann", "DepositCash", ["amount": 100]).json["command"]?["status"] == "succeeded")
        // Its timer (timeoutMs) stays scheduled while the browser looks: the trace keeps its shape.
        let transfer: JSONValue = [
            "id": "transfer-1", "entity": "transfer:1", "type": "TransferRequested",
            "payload": ["from": "checking:ann", "to": "savings:ann", "amount": 30, "timeoutMs": 600_000], "causationId": "web-request-17",
        ]
        #expect(try await server.post("/events", json: transfer).status == 201)
        try await eventually("the transfer completed") {
            try await server.get("/aggregates/transfer:1").json["state"]?["status"] == "COMPLETED"
        }
        #expect(try await server.send("flag:1", "Raise", id: "dead-console").json["command"]?["status"] == "dead")
        // A projector, for the views page.
        let balances = Fixtures.python("balances", kind: "projector", events: ["checking.*", "savings.*"], script: Fixtures.function("balances.py"))
        #expect(try await server.register(balances).status == 201)

        let artifacts = Fixtures.root + "/test-artifacts/console"
        let run = try await runProgram(
            [
                "python3", Fixtures.root + "/Tests/Fixtures/console/console_test.py", "--url", server.baseURL, "--token-url", guarded.baseURL,
                "--token", token, "--mode-file", modeFile, "--dead-command", "dead-console", "--out", artifacts,
            ], timeout: .seconds(90))
        #expect(run.status == 0, "console_test.py failed:\n\(run.out)\n\(run.err.suffix(6000))")
        #expect(run.out.contains("console: all scenarios passed"))
        #expect(!guarded.serverLog.contains(token), "the admin token must not appear in the server's log")
    }

    static var browserAvailable: Bool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/chromium") }
    }
}
