import EventoCore
import Foundation
import Testing

/// Unique fields under concurrency, and projectors through a real server: exactly-once views under a killed
/// worker and a SIGKILLed server.
@Suite(.serialized) struct QuerySideTests {
    @Test func aHundredConcurrentCreateUsersWithTenUsernamesMakeExactlyTenUsers() async throws {
        let server = try await ServerProcess(arguments: ["--functions", "functions/social/social.json"])
        defer { Task { await server.kill() } }
        let p = "u" + Identifiers.uuidV7().suffix(8)
        let statuses = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0..<100 {
                group.addTask {
                    let r = try await server.send("user:\(p)-\(i)", "CreateUser", ["username": .string("Name\(i % 10)_\(p)"), "name": "N"])
                    return (r.status, r.text)
                }
            }
            var out: [(Int, String)] = []
            for try await s in group { out.append(s) }
            return out
        }
        let created = statuses.filter { $0.0 == 200 }
        let taken = statuses.filter { $0.0 == 409 }
        #expect(created.count == 10, "\(statuses.filter { $0.0 != 409 }.map(\.1).prefix(3))")
        #expect(taken.count == 90)
        #expect(taken.allSatisfy { $0.1.contains("username") && $0.1.contains("already taken by user:\(p)-") }, "\(taken.first?.1 ?? "")")
        // Each username is held by exactly one user, and the listing agrees.
        var holders: Set<String> = []
        for n in 0..<10 {
            let found = try await server.get("/aggregates?aggregate=user&username=name\(n)_\(p)")
            let items = found.json["items"]?.arrayValue ?? []
            #expect(items.count == 1, "\(found.text)")
            if let e = items.first?["entity"]?.stringValue { holders.insert(e) }
        }
        #expect(holders.count == 10)
        var listed: [String] = []
        var after: String? = nil
        repeat {
            let page = try await server.get("/aggregates?aggregate=user&status=ACTIVE&limit=7" + (after.map { "&after=\($0)" } ?? ""))
            listed += (page.json["items"]?.arrayValue ?? []).compactMap { $0["entity"]?.stringValue }.filter { $0.hasPrefix("user:\(p)-") }
            after = page.json["next"]?.stringValue
        } while after != nil
        #expect(Set(listed) == holders && listed.count == 10, "paged listing: \(listed)")
    }

    /// A projector that folds counter events into `totals/{entity}` with merge patches of a set (the event
    /// ids): the view equals the fold of the events exactly when every event was applied once.
    static let projector = """
        import json, os, sys
        sys.path.insert(0, os.path.join(os.getcwd(), "runtime", "python"))
        from evento_runtime import serve
        crash_file = os.environ.get("CRASH_FILE")

        def project(events):
            if crash_file and os.path.exists(crash_file):
                os.remove(crash_file)
                os._exit(3)   # the worker dies mid-call, once
            ops = []
            for e in events:
                ops.append({"op": "merge", "view": "seen", "key": e["entity"], "patch": {e["id"]: True}})
                ops.append({"op": "merge", "view": "counts", "key": e["entity"], "patch": {"last": e["sequence"]}})
            return ops

        serve(project=project)
        """

    @Test func projectedViewsAreExactlyOnceAcrossAKilledWorkerAndASIGKILLedServer() async throws {
        let dir = NSTemporaryDirectory() + "evento-proj-" + Identifiers.uuidV7()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = dir + "/projector.py"
        try Self.projector.write(toFile: script, atomically: true, encoding: .utf8)
        let crash = dir + "/crash"
        try "".write(toFile: crash, atomically: true, encoding: .utf8)
        let functions = dir + "/functions.json"
        let counter = Fixtures.python("counter", kind: "handler", aggregate: "counter", script: Fixtures.function("counter.py"))
        let projector: JSONValue = [
            "name": "seen", "kind": "projector", "events": ["counter.*"], "maxAttempts": 10,
            "transport": ["process": ["command": ["python3", .string(script)], "workers": 1, "env": ["CRASH_FILE": .string(crash)]]],
        ]
        try JSONValue.array([counter, projector]).jsonText.write(toFile: functions, atomically: true, encoding: .utf8)
        let server = try await ServerProcess(arguments: ["--functions", functions])
        defer { Task { await server.kill() } }
        // Load in the background while the server is killed partway.
        let sent = try await withThrowingTaskGroup(of: Int.self) { group in
            for w in 0..<4 {
                group.addTask {
                    var ok = 0
                    for i in 0..<60 {
                        // While the server is down (killed, restarting) a post fails: the same event again
                        // shortly, so that the load spans the kill however slow the machine.
                        for _ in 0..<100 {
                            let r = try? await server.post("/events", json: ["entity": .string("counter:p\(w)"), "type": "Incremented", "payload": [:], "id": .string("ev-\(w)-\(i)")])
                            if r?.status == 201 || r?.status == 200 {
                                ok += 1
                                break
                            }
                            try await Task.sleep(for: .milliseconds(50))
                        }
                    }
                    return ok
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            await server.kill()
            try await server.start()
            var total = 0
            for try await n in group { total += n }
            return total
        }
        #expect(sent > 0)
        // Republish everything (idempotent by id) so the log surely holds every event once.
        for w in 0..<4 {
            for i in 0..<60 {
                let r = try await server.post("/events", json: ["entity": .string("counter:p\(w)"), "type": "Incremented", "payload": [:], "id": .string("ev-\(w)-\(i)")])
                #expect([200, 201].contains(r.status), "\(r.text)")
            }
        }
        try await eventually(timeout: .seconds(60), "the projector caught up") {
            let p = try await server.get("/projectors/seen")
            return p.json["lag"] == 0 && p.json["state"] == "running"
        }
        for w in 0..<4 {
            let events = try await server.events(of: "counter:p\(w)")
            let view = try await server.get("/views/seen/counter:p\(w)")
            #expect(view.status == 200, "\(view.text)")
            let ids = Set(view.json["doc"]?.objectValue?.keys ?? [])
            #expect(ids == Set(events.compactMap { $0["id"]?.stringValue }), "counter:p\(w): view \(ids.count) ids, stream \(events.count) events")
            let counts = try await server.get("/views/counts/counter:p\(w)")
            #expect(counts.json["doc"]?["last"]?.intValue == Int64(events.count))
        }
        #expect(!FileManager.default.fileExists(atPath: crash), "the worker crash happened")
        // Many at once, and paging.
        let many = try await server.post("/views/seen/_get", json: ["keys": ["counter:p0", "counter:none", "counter:p3"]])
        #expect((many.json["items"]?.arrayValue ?? []).compactMap { $0["key"]?.stringValue } == ["counter:p0", "counter:p3"])
        let page = try await server.get("/views/seen?prefix=counter:p&limit=3")
        #expect((page.json["items"]?.arrayValue ?? []).count == 3 && page.json["next"] == "counter:p2", "\(page.text)")
        #expect(try await server.get("/views/seen/counter:absent").status == 404)
    }
}
