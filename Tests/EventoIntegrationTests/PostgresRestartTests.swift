import EventoCore
import Foundation
import Testing

/// PostgreSQL restarting under load (issue 15, part 6): the server rides it out, answers clearly meanwhile,
/// and loses or doubles nothing. The test restarts a PostgreSQL server of its own (scripts/postgres.sh on
/// another port and folder), never the one the other tests share.
@Suite(.serialized, .enabled(if: testPostgresURL != nil, "EVENTO_TEST_POSTGRES_URL: PostgreSQL is installed here"))
struct PostgresRestartTests {
    /// A private PostgreSQL: `scripts/postgres.sh` with its own port and data folder.
    struct PrivatePostgres {
        let port = 56_000 + Int.random(in: 0..<900)
        let dir = "/var/tmp/evento-pg-restart-" + Identifiers.uuidV7().prefix(8)

        func run(_ action: String) async throws -> String {
            // Through a wrapper that clears the signal mask and closes inherited descriptors first: a child of
            // the test process inherits the mask of the thread that spawned it (most signals blocked), and a
            // daemon (the postmaster) left holding a descriptor of the test process keeps it from seeing the
            // script end.
            let unblocked = "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.closerange(3, 65536); os.execv(sys.argv[1], sys.argv[1:])"
            let r = try await runProgram(
                ["python3", "-c", unblocked, Binaries.packageRoot + "/scripts/postgres.sh", action],
                environment: ProcessInfo.processInfo.environment.merging(["EVENTO_PG_PORT": String(port), "EVENTO_PG_DIR": dir]) { $1 },
                timeout: .seconds(120))
            try #require(r.status == 0, "postgres.sh \(action): \(r.err)")
            return r.out.trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test func aPostgreSQLRestartUnderLoadLosesAndDoublesNothing() async throws {
        let pg = PrivatePostgres()
        let url = try await pg.run("start")
        defer { Task { _ = try? await pg.run("stop"); try? FileManager.default.removeItem(atPath: pg.dir) } }
        // Schemaless aggregates allowed (the probe event below has none); the bank's schemas apply as ever.
        let server = try await ServerProcess(arguments: ["--store", url])
        try await ClusterTests.registerChecking(on: [server])
        let accounts = 4
        for a in 0..<accounts {
            #expect(try await server.send("checking:r\(a)", "OpenAccount", ["owner": .string("r\(a)")]).json["command"]?["status"] == "succeeded")
        }

        // Four clients deposit 1 at a time (each command's id recorded) until told to stop. A command waits at
        // most 10 s for its outcome (then 202: it is pending, retried with backoff once PostgreSQL is back).
        let stop = Shared(false)
        let sent = Shared<[(id: String, account: Int, status: Int, text: String)]>([])
        let load = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for a in 0..<accounts {
                    group.addTask {
                        var i = 0
                        while !stop.withLock({ $0 }) {
                            let id = "dep-\(a)-\(i)"
                            let r = try await server.post(
                                "/commands?wait=true&timeoutMs=10000",
                                json: ["id": .string(id), "entity": .string("checking:r\(a)"), "type": "DepositCash", "payload": ["amount": 1]])
                            sent.withLock { $0.append((id, a, r.status, r.text)) }
                            if r.status >= 500 { try await Task.sleep(for: .milliseconds(100)) }
                            i += 1
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        defer { stop.withLock { $0 = true } }
        try await Task.sleep(for: .seconds(1.5))
        _ = try await pg.run("stop")
        let stoppedAt = ContinuousClock.now
        try await Task.sleep(for: .seconds(3))
        _ = try await pg.run("start")
        // Writes work again soon after PostgreSQL is back.
        try await eventually(timeout: .seconds(30), "an event is stored after the restart") {
            try await server.post("/events", json: ["entity": "note:after", "type": "Noted", "payload": [:]]).status == 201
        }
        let back = ContinuousClock.now - stoppedAt
        print("postgres restart: writes back \(back) after the stop")
        // Back by reconnecting (3 s down, then a few seconds), not by the writer's 20 s commit deadline.
        #expect(back < .seconds(15), "writes came back \(back) after the stop")
        try await Task.sleep(for: .seconds(2))
        stop.withLock { $0 = true }
        try await load.value

        let replies = sent.withLock { $0 }
        #expect(replies.count > 20, "the load got going (\(replies.count) commands)")
        // Meanwhile: answered, or refused with a clear 503; never a 500.
        for r in replies where r.status != 200 && r.status != 202 {
            #expect(r.status == 503, "\(r.id): \(r.status) \(r.text)")
            #expect(r.text.contains("/problems/unavailable"), "\(r.text)")
        }
        // Every command is final in the end; each that succeeded wrote exactly one event, none twice, and
        // each balance is the number of its deposits that succeeded.
        var succeededPerAccount = Array(repeating: 0, count: accounts)
        for r in replies {
            var final: JSONValue?
            try await eventually(timeout: .seconds(30), "\(r.id) is final or was never accepted") {
                let c = try await server.get("/commands/\(r.id)")
                if c.status == 404 { return true }
                final = c.json["status"]
                return ["succeeded", "failed", "dead"].contains(final?.stringValue ?? "")
            }
            if r.status == 200 { #expect(final == "succeeded", "\(r.id) was answered 200 \(r.text)") }
            if final == "succeeded" { succeededPerAccount[r.account] += 1 }
        }
        for a in 0..<accounts {
            let events = try await server.events(of: "checking:r\(a)")
            let causes = events.dropFirst().compactMap { $0["causationId"]?.stringValue }
            #expect(Set(causes).count == causes.count, "no deposit wrote twice on checking:r\(a)")
            #expect(causes.count == succeededPerAccount[a], "checking:r\(a): \(causes.count) deposit events for \(succeededPerAccount[a]) succeeded commands")
            #expect(events.map { $0["sequence"]?.intValue ?? 0 } == Array(1...Int64(events.count)), "checking:r\(a) has no gap")
            let balance = try await server.get("/aggregates/checking:r\(a)").json["state"]?["balance"]?.intValue
            #expect(balance == Int64(succeededPerAccount[a]))
        }
        #expect(await server.stop(), "graceful shutdown after the restart")
        _ = try await pg.run("stop")
        try? FileManager.default.removeItem(atPath: pg.dir)
    }
}
