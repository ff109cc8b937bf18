import EventoCore
import Foundation
import Testing

/// The command pipeline end to end: real `evento serve`, real function processes, a real HTTP function.
@Suite(.serialized) struct PipelineTests {
    @Test func theBankRunsEndToEnd() async throws {
        let server = try await ServerProcess()
        // Savings as an HTTP function (Python), checking as process workers (Swift), the transfer saga in Python.
        let savingsHTTP = try await HelperProcess(["python3", Fixtures.root + "/functions/savings/savings.py", "--http", "0"])
        let savingsURL = try #require(savingsHTTP.url)
        for name in ["checking-handler", "checking-aggregator"] {
            let r = try await server.register([
                "name": .string(name), "kind": .string(name.hasSuffix("handler") ? "handler" : "aggregator"), "aggregate": "checking",
                "transport": ["process": ["command": [.string(Fixtures.checkingFunction)], "workers": 2]],
            ])
            #expect(r.status == 201, "\(r.text)")
        }
        for kind in ["handler", "aggregator"] {
            let r = try await server.register([
                "name": .string("savings-\(kind)"), "kind": .string(kind), "aggregate": "savings",
                "transport": ["http": ["url": .string(savingsURL)]],
            ])
            #expect(r.status == 201, "\(r.text)")
        }
        // The transfer saga (handler, aggregator and dispatcher in one Python program; SagaTests has its endings).
        let saga: JSONValue = ["process": ["command": ["python3", .string(Fixtures.root + "/functions/transfer/transfer.py")]]]
        for kind in ["handler", "aggregator"] {
            let r = try await server.register(["name": .string("transfer-\(kind)"), "kind": .string(kind), "aggregate": "transfer", "transport": saga])
            #expect(r.status == 201, "\(r.text)")
        }
        let dispatcher = try await server.register([
            "name": "transfer-dispatcher", "kind": "dispatcher",
            "events": ["transfer.TransferRequested", "transfer.WithdrawalRecorded", "checking.CashWithdrawn", "savings.CashDeposited"],
            "transport": saga,
        ])
        #expect(dispatcher.status == 201, "\(dispatcher.text)")

        let opened = try await server.send("checking:1", "OpenAccount", ["owner": "Ann"])
        #expect(opened.status == 200)
        #expect(opened.json["command"]?["status"] == "succeeded")
        #expect(opened.json["events"]?.arrayValue?.map { $0["type"] } == ["AccountOpened"])
        #expect(try await server.send("checking:1", "DepositCash", ["amount": 100]).json["events"]?[0]?["payload"] == ["amount": 100, "balance": 100, "transfer": nil])
        let overdrawn = try await server.send("checking:1", "WithdrawCash", ["amount": 500])
        #expect(overdrawn.json["events"]?.arrayValue?.map { $0["type"] } == ["WithdrawalRejected"])
        #expect(overdrawn.json["events"]?[0]?["payload"]?["reason"] == "insufficient funds")
        #expect(try await server.send("savings:1", "OpenAccount", ["owner": "Ann"]).json["command"]?["status"] == "succeeded")

        let transfer = try await server.post(
            "/events", #"{"id":"transfer-1","entity":"transfer:1","type":"TransferRequested","payload":{"from":"checking:1","to":"savings:1","amount":30},"causationId":"http-request-1","causationKind":"external"}"#)
        #expect(transfer.status == 201)
        try await eventually("both accounts updated") {
            let c = try await server.get("/aggregates/checking:1").json
            let s = try await server.get("/aggregates/savings:1").json
            return c["state"]?["balance"] == 70 && s["state"]?["balance"] == 30
        }
        #expect(try await server.get("/aggregates/checking:1").json["version"] == 4)

        let trace = try await server.get("/trace/transfer-1").json
        #expect(trace["chain"]?.arrayValue?.map { $0["id"] } == ["http-request-1", "transfer-1"])
        // The saga's first step and its timer (30 s, still scheduled); the deposit follows the withdrawal.
        let commands = trace["descendants"]?.arrayValue ?? []
        #expect(commands.map { $0["kind"] } == ["command", "command"])
        #expect(Set(commands.compactMap { $0["type"]?.stringValue }) == ["WithdrawCash", "TimeoutTransfer"])
        for c in commands {
            #expect(c["causationKind"] == "event")
            #expect(c["correlationId"] == "transfer-1")
        }
        let withdrawal = try #require(commands.first { $0["type"] == "WithdrawCash" })
        #expect(withdrawal["payload"] == ["amount": 30, "transfer": "transfer:1"])
        let results = withdrawal["caused"]?.arrayValue ?? []
        #expect(results.compactMap { $0["type"]?.stringValue } == ["CashWithdrawn"])
        // And backwards from a resulting event: request → TransferRequested → WithdrawCash → CashWithdrawn.
        let withdrawn = try #require(results.first { $0["type"] == "CashWithdrawn" }?["id"]?.stringValue)
        let chain = try await server.get("/trace/\(withdrawn)").json["chain"]?.arrayValue ?? []
        #expect(chain.map { $0["kind"] } == ["external", "event", "command", "event"])
        #expect(chain.map { $0["type"] ?? .null } == [.null, "TransferRequested", "WithdrawCash", "CashWithdrawn"])
        let deposited = try #require(try await server.events(of: "savings:1").last)
        #expect(deposited["payload"] == ["amount": 30, "balance": 30, "transfer": "transfer:1"])
        let depositChain = try await server.get("/trace/\(deposited["id"]?.stringValue ?? "")").json["chain"]?.arrayValue ?? []
        #expect(
            depositChain.map { $0["type"] ?? .null } == [
                .null, "TransferRequested", "WithdrawCash", "CashWithdrawn", "RecordWithdrawal", "WithdrawalRecorded", "DepositCash", "CashDeposited",
            ])
    }

    @Test func aHandlerThatFailsTwiceSucceedsOnTheThirdAttempt() async throws {
        let server = try await ServerProcess()
        let r = try await server.register(
            Fixtures.python("flaky", kind: "handler", aggregate: "job", script: Fixtures.function("flaky.py"), env: ["FAIL_TIMES": "2"]))
        #expect(r.status == 201, "\(r.text)")
        let done = try await server.send("job:1", "Run")
        #expect(done.status == 200)
        #expect(done.json["command"]?["status"] == "succeeded")
        #expect(done.json["command"]?["attempts"] == 3)
        #expect(done.json["events"]?[0]?["payload"] == ["calls": 3])
        #expect(try await server.events(of: "job:1").count == 1)
    }

    @Test func aHandlerThatAlwaysFailsEndsAsADeadLetterAndRetryingWorksOnceItIsFixed() async throws {
        let server = try await ServerProcess()
        let mode = server.dataDirectory + "/mode"
        try "fail".write(toFile: mode, atomically: true, encoding: .utf8)
        _ = try await server.register(
            Fixtures.python("switchable", kind: "handler", aggregate: "job", script: Fixtures.function("switchable.py"), env: ["MODE_FILE": mode], maxAttempts: 3))
        let failed = try await server.send("job:2", "Run", id: "cmd-dead")
        #expect(failed.status == 200)
        #expect(failed.json["command"]?["status"] == "dead")
        #expect(failed.json["command"]?["attempts"] == 3)
        #expect(failed.json["command"]?["lastError"]?.stringValue?.contains("the function is broken (mode fail)") == true)
        #expect(failed.json["events"] == [])
        let dead = try await server.get("/dead-letters").json["deadLetters"]?.arrayValue ?? []
        #expect(dead.map { $0["id"] } == ["cmd-dead"])
        #expect(dead.first?["kind"] == "command")
        #expect(dead.first?["function"] == "switchable")

        try "ok".write(toFile: mode, atomically: true, encoding: .utf8)
        let retry = try await server.post("/dead-letters/cmd-dead/retry", "")
        #expect(retry.status == 202)
        try await eventually("the retried command succeeds") { try await server.command("cmd-dead")["status"] == "succeeded" }
        #expect(try await server.command("cmd-dead")["attempts"] == 1)
        #expect(try await server.events(of: "job:2").count == 1)
        #expect(try await server.get("/dead-letters").json["deadLetters"] == [])
        let again = try await server.post("/dead-letters/cmd-dead/retry", "")
        #expect(again.status == 409)
    }

    @Test func aWorkerKilledMidCallIsReplacedAndTheCommandSucceedsOnce() async throws {
        let server = try await ServerProcess()
        let state = server.dataDirectory + "/slow"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        _ = try await server.register(
            Fixtures.python("slow", kind: "handler", aggregate: "job", script: Fixtures.function("slow.py"), workers: 2, env: ["STATE_DIR": state]))
        let sent = try await server.post("/commands", #"{"id":"cmd-slow","entity":"job:3","type":"Run","payload":{}}"#)
        #expect(sent.status == 202)
        let pidFile = state + "/cmd-slow.pid"
        try await eventually("the handler call starts") { FileManager.default.fileExists(atPath: pidFile) }
        let pid = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8)))
        kill(pid, SIGKILL)
        try await eventually("the command succeeds") { try await server.command("cmd-slow")["status"] == "succeeded" }
        let events = try await server.events(of: "job:3")
        #expect(events.count == 1)
        #expect(events.first?["payload"]?["pid"] != .int(Int64(pid)))
        #expect(try await server.command("cmd-slow")["attempts"] == 1, "the transport retried the call on a fresh worker")
        try await eventually("the pool is back to two workers") {
            let workers = try await server.get("/functions/slow").json["status"]?["workers"]?.arrayValue ?? []
            return workers.count == 2 && !workers.contains(.int(Int64(pid)))
        }
        #expect(try await server.get("/functions/slow").json["status"]?["restarts"] == 1)
    }

    @Test func fiftyConcurrentCommandsOnOneEntityGiveFiftySequentialEventsAndASnapshotAtFifty() async throws {
        let server = try await ServerProcess()
        _ = try await server.register(Fixtures.python("counter-h", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"), workers: 4))
        _ = try await server.register(Fixtures.python("counter-a", kind: "aggregator", aggregate: "counter", script: Fixtures.function("counter.py"), workers: 2))
        let replies = try await withThrowingTaskGroup(of: ServerProcess.Reply.self) { group in
            for _ in 0..<50 { group.addTask { try await server.post("/commands?wait=true", #"{"entity":"counter:1","type":"Increment","payload":{}}"#) } }
            return try await group.reduce(into: [ServerProcess.Reply]()) { $0.append($1) }
        }
        #expect(replies.allSatisfy { $0.json["command"]?["status"] == "succeeded" })
        let events = try await server.events(of: "counter:1")
        #expect(events.map { $0["sequence"]?.intValue ?? 0 } == Array(1...50))
        // Each handler call saw the state of every event before its own.
        #expect(events.map { $0["payload"]?["n"]?.intValue ?? 0 } == Array(1...50))
        let aggregate = try await server.get("/aggregates/counter:1").json
        #expect(aggregate["version"] == 50)
        #expect(aggregate["state"]?["count"] == 50)
    }

    @Test func aConflictReRunsTheHandlerOnFreshStateAndPersistentConflictsFailTheCommand() async throws {
        let server = try await ServerProcess()
        let started = server.dataDirectory + "/started"
        try FileManager.default.createDirectory(atPath: started, withIntermediateDirectories: true)
        let h = try await server.register(
            Fixtures.python("slow-counter", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"),
                            env: ["SLOW_MS": "700", "STARTED_DIR": started]))
        #expect(h.status == 201, "\(h.text)")
        let a = try await server.register(Fixtures.python("counter-a", kind: "aggregator", aggregate: "counter", script: Fixtures.function("counter.py")))
        #expect(a.status == 201, "\(a.text)")
        async let result = server.send("counter:9", "Increment", id: "cmd-conflict")
        try await eventually("the handler works on version 0") { FileManager.default.fileExists(atPath: started + "/cmd-conflict-0") }
        // While the handler works on version 0, someone else appends.
        #expect(try await server.post("/events", #"{"entity":"counter:9","type":"Interfered","payload":{}}"#).status == 201)
        let done = try await result
        #expect(done.json["command"]?["status"] == "succeeded", "\(done.text)")
        #expect(FileManager.default.fileExists(atPath: started + "/cmd-conflict-1"), "the handler ran again at version 1")
        #expect(done.json["command"]?["attempts"] == 1)
        let events = try await server.events(of: "counter:9")
        #expect(events.map { $0["type"] } == ["Interfered", "Incremented"])
        #expect(events[1]["payload"]?["n"] == 2, "the handler was re-run on the state that includes the other event")

        // A handler that always meets a conflict: bounded re-runs, then the command fails with the conflict.
        _ = try await server.register(
            Fixtures.python("conflicting", kind: "handler", aggregate: "contested", script: Fixtures.function("conflicting.py"),
                            env: ["EVENTO_URL": server.baseURL]))
        let failed = try await server.send("contested:1", "Run")
        #expect(failed.json["command"]?["status"] == "failed")
        #expect(failed.json["command"]?["lastError"]?.stringValue?.hasPrefix("version conflict after 9 tries") == true)
        #expect(try await server.events(of: "contested:1").allSatisfy { $0["type"] == "Interfered" })
    }

    @Test func anAggregatorFailureLeavesTheSnapshotLaggingUntilTheNextCommandCatchesItUp() async throws {
        let server = try await ServerProcess()
        let mode = server.dataDirectory + "/agg-mode"
        try "fail".write(toFile: mode, atomically: true, encoding: .utf8)
        _ = try await server.register(Fixtures.python("counter-h", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py")))
        _ = try await server.register(
            Fixtures.python("counter-a", kind: "aggregator", aggregate: "counter", script: Fixtures.function("counter.py"), env: ["AGG_MODE_FILE": mode]))
        let first = try await server.send("counter:5", "Increment")
        #expect(first.json["command"]?["status"] == "succeeded", "the events commit even though the aggregator failed")
        let lagging = try await server.get("/aggregates/counter:5").json
        #expect(lagging["lagging"] == true)
        #expect(lagging["version"] == 0)
        #expect(lagging["streamVersion"] == 1)

        try "ok".write(toFile: mode, atomically: true, encoding: .utf8)
        let second = try await server.send("counter:5", "Increment")
        #expect(second.json["events"]?[0]?["payload"]?["n"] == 2, "the handler saw the caught-up state")
        let aggregate = try await server.get("/aggregates/counter:5").json
        #expect(aggregate["version"] == 2)
        #expect(aggregate["state"]?["count"] == 2)
        #expect(aggregate["lagging"] == nil)
    }

    @Test func aReDispatchAfterACrashAddsNothing() async throws {
        let server = try await ServerProcess()
        _ = try await server.register(Fixtures.python("counter-h", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py")))
        _ = try await server.register(Fixtures.python("pinger", kind: "dispatcher", events: ["Ping"], script: Fixtures.function("pinger.py")))
        for i in 0..<5 {
            _ = try await server.post("/events", json: ["id": .string("ping-\(i)"), "entity": "pinger:1", "type": "Ping", "payload": ["counter": "counter:7"]])
        }
        try await eventually("five increments") { try await server.events(of: "counter:7").count == 5 }
        let firstId = try await server.get("/trace/ping-0").json["descendants"]?[0]?["id"]?.stringValue
        // Forget how far dispatch got, as if the server had crashed before saving its cursor.
        await server.stop()
        let reset = try await runProgram([
            "python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('UPDATE relay_cursors SET position=0'); c.commit()",
            server.dataDirectory + "/evento.sqlite",
        ])
        #expect(reset.status == 0, "\(reset.err)")
        try await server.start()
        try await Task.sleep(for: .seconds(2))
        #expect(try await server.events(of: "counter:7").count == 5)
        let trace = try await server.get("/trace/ping-0").json
        #expect(trace["descendants"]?.arrayValue?.count == 1)
        let commandId = try #require(trace["descendants"]?[0]?["id"]?.stringValue)
        #expect(commandId == firstId, "the redo derived the same command id")
        #expect(Array(commandId)[14] == "8", "a derived id is a UUIDv8")
    }

    @Test func aServerKilledWithCommandsInFlightFinishesThemAfterARestart() async throws {
        let server = try await ServerProcess()
        _ = try await server.register(
            Fixtures.python("counter-h", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"), workers: 2, env: ["SLOW_MS": "5"]))
        _ = try await server.register(Fixtures.python("counter-a", kind: "aggregator", aggregate: "counter", script: Fixtures.function("counter.py")))
        var accepted: [String: [String]] = [:]
        try await withThrowingTaskGroup(of: (String, String).self) { group in
            for i in 0..<120 {
                group.addTask {
                    let entity = "counter:k\(i % 6)"
                    let r = try await server.post("/commands", json: ["id": .string("k-\(i)"), "entity": .string(entity), "type": "Increment", "payload": [:]])
                    #expect(r.status == 202)
                    return (entity, "k-\(i)")
                }
            }
            for try await (entity, id) in group { accepted[entity, default: []].append(id) }
        }
        await server.kill()
        try await server.start()
        try await eventually(timeout: .seconds(60), "every accepted command succeeds") {
            for ids in accepted.values {
                for id in ids where try await server.command(id)["status"] != "succeeded" { return false }
            }
            return true
        }
        for (entity, ids) in accepted {
            let events = try await server.events(of: entity)
            #expect(events.count == ids.count, "\(entity): no event lost or doubled")
            #expect(events.map { $0["sequence"]?.intValue ?? 0 } == Array(1...Int64(ids.count)))
            #expect(Set(events.compactMap { $0["payload"]?["command"]?.stringValue }) == Set(ids))
            #expect(events.map { $0["payload"]?["n"]?.intValue ?? 0 } == Array(1...Int64(ids.count)))
        }
    }
}

@Suite struct BatchingTests {
    @Test func concurrentCallsToABatchingFunctionShareRequestsAndEachGetsItsOwnReply() async throws {
        let server = try await ServerProcess()
        let h = try await server.register(
            Fixtures.python("counter-h", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"), env: ["SLOW_MS": "20"], maxBatch: 16))
        #expect(h.status == 201, "\(h.text)")
        #expect(h.json["maxBatch"] == 16)
        _ = try await server.register(Fixtures.python("counter-a", kind: "aggregator", aggregate: "counter", script: Fixtures.function("counter.py"), maxBatch: 16))
        let replies = try await withThrowingTaskGroup(of: ServerProcess.Reply.self) { group in
            for i in 0..<40 {
                group.addTask { try await server.post("/commands?wait=true", #"{"id":"b-\#(i)","entity":"counter:b\#(i)","type":"Increment","payload":{}}"#) }
            }
            return try await group.reduce(into: [ServerProcess.Reply]()) { $0.append($1) }
        }
        #expect(replies.allSatisfy { $0.json["command"]?["status"] == "succeeded" })
        for r in replies {
            // Each command got the reply to its own request.
            #expect(r.json["events"]?[0]?["payload"]?["command"] == r.json["command"]?["id"])
        }
        let metrics = try await server.get("/metrics").text
        let batches = metrics.split(separator: "\n").first { $0.hasPrefix(#"evento_function_batches_total{function="counter-h"}"#) }
            .flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        #expect(batches > 0 && batches < 40, "40 calls went in \(batches) batch requests (plus single ones)")
    }
}
