import ArgumentParser
import EventoCore
import Foundation

/// `evento bench projector`: how fast a projector turns the log into views, beside a projector that writes
/// nothing (the pipeline's own cost: reading the log, calling the function, committing the cursor) measured
/// in the same run.
struct ProjectorBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "projector",
        abstract: "Projector throughput: events projected into views per second, beside a projector that writes nothing.",
        discussion: """
            Publishes --events CashDeposited events (batches of 500) to --entities checking accounts, then registers
            two Python projectors (process workers, the runtime of --root): one that answers no operations, then
            one that merges each event's balance into a view document per account. Each starts at position 0;
            the time until its lag is 0 gives its rate over the whole log. Checks that every account's document
            holds the last balance published. Needs the bank's schemas (schemas/checking.avsc), a fresh server
            gives the cleanest figures (the projectors read the whole log).
            """)

    @OptionGroup var options: BenchOptions
    @Option(help: "Events to publish.") var events = 50_000
    @Option(help: "Accounts the events go to (one view document each).") var entities = 500
    @Option(help: "The Evento checkout holding runtime/python (default: the current directory, else above this binary).") var root: String?

    func run() async throws {
        guard events >= 1, entities >= 1 else { throw ValidationError("--events and --entities: at least 1") }
        let client = BenchClient(bases: options.baseURLs)
        guard await client.get("/healthz") != nil else { throw CLIError("cannot reach Evento at \(options.baseURL)") }
        let runtime = try runtimeDirectory()
        let run = "pb" + Identifiers.uuidV7().suffix(8)
        let view = "balances_\(run)"

        // 1. The log.
        var published = 0
        let started = ContinuousClock.now
        var last: [Int: Int] = [:]
        var batch: [JSONValue] = []
        func flush() async throws {
            guard !batch.isEmpty else { return }
            let r = await client.request("POST", "/events", body: Array(JSONValue.object(["events": .array(batch)]).jsonText.utf8))
            guard let r, r.status == 201 else { throw CLIError("POST /events: \(r?.status ?? 0) \(r?.text.prefix(200) ?? "no response")") }
            published += batch.count
            batch.removeAll(keepingCapacity: true)
        }
        for i in 0..<events {
            let account = i % entities
            let balance = i + 1
            last[account] = balance
            batch.append([
                "entity": .string("checking:\(run)-\(account)"), "type": "CashDeposited",
                "payload": ["amount": 1, "balance": .int(Int64(balance))],
            ])
            if batch.count == 500 { try await flush() }
        }
        try await flush()
        let publishSeconds = seconds(since: started)
        guard let head = await client.get("/healthz")?["headPosition"]?.intValue else { throw CLIError("GET /healthz: no headPosition") }

        // 2. The two projectors, one after the other.
        let dir = NSTemporaryDirectory() + run
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let noop = try await project(client, name: "\(run)-noop", script: dir + "/noop.py", runtime: runtime, body: "return []")
        let merge = try await project(
            client, name: "\(run)-merge", script: dir + "/merge.py", runtime: runtime,
            body: """
                return [{"op": "merge", "view": "\(view)", "key": e["entity"], "patch": {"balance": e["payload"]["balance"], "position": e["position"]}}
                            for e in events if e["type"] == "CashDeposited"]
                """)

        // 3. Every account's document holds its last balance.
        var mismatches = 0
        let keys = (0..<entities).map { "checking:\(run)-\($0)" }
        for chunk in stride(from: 0, to: keys.count, by: 1000) {
            let some = Array(keys[chunk..<min(chunk + 1000, keys.count)])
            let body: JSONValue = ["keys": .array(some.map(JSONValue.string))]
            guard let r = await client.request("POST", "/views/\(view)/_get", body: Array(body.jsonText.utf8)) else { throw CLIError("no answer") }
            let docs = Dictionary(
                (r.json["items"]?.arrayValue ?? []).compactMap { d in d["key"]?.stringValue.map { ($0, d["doc"]?["balance"]?.intValue ?? -1) } },
                uniquingKeysWith: { a, _ in a })
            for (i, key) in some.enumerated() where docs[key] != Int64(last[chunk + i] ?? -2) { mismatches += 1 }
        }
        for name in [noop.name, merge.name] { _ = await client.request("DELETE", "/functions/\(name)") }

        let rows: [(String, String)] = [
            ("scenario", "projector: \(Format.int(published)) events to \(Format.int(entities)) accounts, a log of \(Format.int(Int(head)))"),
            ("published", "\(Format.int(published)) events in \(String(format: "%.1f", publishSeconds)) s"),
            ("throughput", "\(Format.int(Int(Double(published) / merge.seconds))) events projected/s (\(Format.int(Int(Double(head) / merge.seconds))) of the log read/s)"),
            ("limit: a projector that writes nothing", "\(Format.int(Int(Double(published) / noop.seconds))) events/s — Evento at \(Format.ratio(Double(published) / merge.seconds, Double(published) / noop.seconds))"),
            ("time to catch up", String(format: "%.2f s (writing nothing: %.2f s)", merge.seconds, noop.seconds)),
            ("views hold the fold of the events", mismatches == 0 ? "yes — every account's last balance" : "NO — \(mismatches) of \(entities) documents differ"),
        ]
        if options.json {
            var o = JSONObject()
            o["scenario"] = "projector"
            o["events"] = .int(Int64(published))
            o["eventsPerSecond"] = .double((Double(published) / merge.seconds).rounded())
            o["noopEventsPerSecond"] = .double((Double(published) / noop.seconds).rounded())
            o["verified"] = .bool(mismatches == 0)
            output(JSONValue.object(o).jsonText)
        } else {
            let width = rows.map(\.0.count).max() ?? 0
            for (k, v) in rows { output(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v) }
        }
        if mismatches > 0 { throw ExitCode(1) }
    }

    struct Projected {
        var name: String
        var seconds: Double
    }

    /// Registers a projector whose `project(events)` runs `body`, and waits until it has no lag.
    func project(_ client: BenchClient, name: String, script: String, runtime: String, body: String) async throws -> Projected {
        let source = """
            import sys
            sys.path.insert(0, \(JSONValue.string(runtime).jsonText))
            from evento_runtime import serve

            def project(events):
                \(body.replacingOccurrences(of: "\n", with: "\n    "))

            serve(project=project)
            """
        try source.write(toFile: script, atomically: true, encoding: .utf8)
        let registration: JSONValue = [
            "name": .string(name), "kind": "projector", "events": ["checking.*"],
            "transport": ["process": ["command": ["python3", .string(script)], "workers": 1]],
        ]
        let started = ContinuousClock.now
        guard let r = await client.request("POST", "/functions", body: Array(registration.jsonText.utf8)), r.status == 201 else {
            throw CLIError("cannot register projector \(name)")
        }
        while true {
            if let p = await client.get("/projectors/\(name)") {
                if p["state"] == "parked" { throw CLIError("projector \(name) parked: \(p["lastError"]?.stringValue ?? "")") }
                if p["lag"] == 0 { break }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return Projected(name: name, seconds: seconds(since: started))
    }

    func runtimeDirectory() throws -> String {
        var candidates = [root, FileManager.default.currentDirectoryPath].compactMap { $0 }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(dir.path)
            dir = dir.deletingLastPathComponent()
        }
        for c in candidates where FileManager.default.fileExists(atPath: c + "/runtime/python/evento_runtime.py") { return c + "/runtime/python" }
        throw CLIError("cannot find runtime/python/evento_runtime.py: run from the Evento checkout or pass --root")
    }

    func seconds(since start: ContinuousClock.Instant) -> Double { Double((ContinuousClock.now - start) / .milliseconds(1)) / 1000 }
}
