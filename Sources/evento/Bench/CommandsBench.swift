import ArgumentParser
import EventoCore
import EventoFunctions
import EventoHTTP
import EventoPostgres
import Foundation
import Logging
import Synchronization

struct CommandsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commands",
        abstract: "The bank: deposits, withdrawals and transfers on N accounts, each command through its handler and aggregator.",
        discussion: """
            Registers the bank's Swift functions (checking handler and aggregator, the transfer dispatcher) on the
            server when the checking aggregate has no handler: as process workers, or with --transport http as
            HTTP functions this command starts. Latency is POST /commands?wait=true until the command finished.
            """)

    @OptionGroup var options: BenchOptions
    @Option(help: "Accounts.") var accounts = 1000
    @Option(help: "process or http: how the functions are reached when the bench registers them.") var transport = "process"
    @Option(help: "Workers (process) per function when the bench registers them.") var workers = 2
    @Option(name: .customLong("max-batch"), help: "Calls per batch request (maxBatch) when the bench registers the functions; 1: none.")
    var maxBatch = 32
    @Option(help: "Share of operations that are transfers (an event the dispatcher turns into two commands).") var transfers = 0.1

    func run() async throws {
        guard transport == "process" || transport == "http" else { throw ValidationError("--transport: process or http") }
        let client = BenchClient(bases: options.baseURLs)
        guard await client.get("/healthz") != nil else { throw CLIError("cannot reach Evento at \(options.baseURL)") }
        var helpers: [Process] = []
        defer { for p in helpers where p.isRunning { p.terminate() } }
        let inUse = try await ensureFunctions(client, helpers: &helpers)
        let run = "c" + Identifiers.uuidV7().suffix(10)
        let names = (0..<accounts).map { "checking:\(run)-\($0)" }

        // Open and fund the accounts (not measured).
        try await withThrowingTaskGroup(of: Void.self) { group in
            for chunk in stride(from: 0, to: names.count, by: max(1, names.count / 32)) {
                group.addTask {
                    for name in names[chunk..<min(names.count, chunk + max(1, names.count / 32))] {
                        for (type, payload) in [("OpenAccount", #"{"owner":"bench"}"#), ("DepositCash", #"{"amount":100000}"#)] {
                            let text: String = #"{"entity":""# + name + #"","type":""# + type + #"","payload":"# + payload + "}"
                            let r = await client.request("POST", "/commands?wait=true", body: Array(text.utf8))
                            guard r?.status == 200, r?.json["command"]?["status"] == "succeeded" else {
                                throw CLIError("cannot open \(name): \(r?.text.prefix(200) ?? "no response")")
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let before = await serverCommandsSucceeded(client)

        // Per account: how many commands reached it (acknowledged direct ones, and transfer legs).
        let expected = Locked<[Int: Int]>([:])
        let transfersSent = Counter()
        let accounts = self.accounts
        let transferShare = self.transfers
        let concurrency = options.concurrency ?? 64
        let load = LoadGenerator(
            concurrency: concurrency, duration: .milliseconds(Int64(options.duration * 1000)), rate: options.rate, label: "commands",
            unitName: "commands", progress: !options.json)
        let result = await load.run { (worker: Int, i: Int) -> Outcome in
            var rng = SplitMix(seed: UInt64(worker) << 32 | UInt64(i))
            let a = Int(rng.next() % UInt64(accounts))
            let roll = Double(rng.next() % 10_000) / 10_000
            if roll < transferShare {
                var b = Int(rng.next() % UInt64(accounts))
                if b == a { b = (a + 1) % accounts }
                let body: String = #"{"entity":"transfer:"# + "\(run)-\(worker)-\(i)" + #"","type":"TransferRequested","payload":{"from":""# + names[a] + #"","to":""# + names[b] + #"","amount":1}}"#
                guard let r = await client.request("POST", "/events", body: Array(body.utf8)) else { return Outcome(ok: false, units: 0, error: "no response") }
                if r.status == 429 { return await BenchClient.backOff(r) }
                guard r.status == 201 else { return Outcome(ok: false, units: 0, error: "transfer refused: \(r.status) \(r.text.prefix(160))") }
                expected.withLock { (e: inout [Int: Int]) in
                    e[a, default: 0] += 1
                    e[b, default: 0] += 1
                }
                transfersSent.add(1)
                return Outcome(ok: true, units: 0, error: nil)
            }
            let deposit: Bool = roll < transferShare + (1 - transferShare) / 2
            let type: String = deposit ? "DepositCash" : "WithdrawCash"
            let amount: UInt64 = 1 + rng.next() % 100
            let body: String = #"{"entity":""# + names[a] + #"","type":""# + type + #"","payload":{"amount":"# + String(amount) + "}}"
            guard let r = await client.request("POST", "/commands?wait=true", body: Array(body.utf8)) else {
                return Outcome(ok: false, units: 0, error: "no response")
            }
            if r.status == 429 { return await BenchClient.backOff(r) }
            guard r.status == 200, r.json["command"]?["status"] == "succeeded" else {
                return Outcome(ok: false, units: 0, error: "\(r.status): \(r.text.prefix(200))")
            }
            expected.withLock { $0[a, default: 0] += 1 }
            return Outcome(ok: true, units: 1, error: nil)
        }
        // Let the transfer legs finish, then count what the server processed in all.
        let drainStart = ContinuousClock.now
        while let backlog = (await client.get("/healthz"))?["commandBacklog"]?.intValue, backlog > 0,
            ContinuousClock.now - drainStart < .seconds(120)
        {
            try await Task.sleep(for: .milliseconds(100))
        }
        let drained = Double((ContinuousClock.now - drainStart) / .milliseconds(1)) / 1000
        let after = await serverCommandsSucceeded(client)

        // Verify: each account's stream holds open + fund + one event per command that reached it.
        let want = expected.value
        var mismatches = 0
        var storedEvents = 0
        try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for (i, name) in names.enumerated() {
                group.addTask {
                    let events = (await client.get("/entities/\(name)/events?limit=10000"))?["events"]?.arrayValue?.count ?? -1
                    return (i, events)
                }
            }
            for try await (i, count) in group {
                storedEvents += count
                if count != 2 + (want[i] ?? 0) { mismatches += 1 }
            }
        }
        let acknowledgedCommands = result.units + 2 * transfersSent.value
        let health: JSONValue? = await client.get("/healthz")
        let peak: Int? = health?["peakRssBytes"]?.intValue.map { Int($0) }
        let percent: Int = Int(transferShare * 100)
        let verification: String = "\(Format.int(storedEvents - 2 * accounts)) events for \(Format.int(acknowledgedCommands)) commands; \(mismatches) accounts differ"
        var report = BenchReport(
            scenario: "commands (bank, \(accounts) accounts, \(percent)% transfers, \(inUse))", unit: "commands", load: result,
            concurrency: concurrency, rate: options.rate, acknowledged: acknowledgedCommands, verified: mismatches == 0,
            verification: verification, serverPeakRssBytes: peak)
        report.kafkaLag = (await client.get("/kafka"))?["lag"]?.intValue
        if let before, let after {
            let total = after - before
            let wall: Double = result.seconds + drained
            let perSecond: Int = Int(total / wall)
            report.extra.append(("all commands incl. transfer legs", "\(Format.int(Int(total))) in \(String(format: "%.1f", wall)) s = \(Format.int(perSecond))/s"))
        }
        if !options.noLimits {
            // The calls Evento makes per command, without Evento: one handle call that also folds (the bench
            // registers the handler and the aggregator as one program), batched the same way.
            let calls = try await bareCallRate(concurrency: concurrency)
            report.limits.append(("bare \(transport) calls (1 per command: handle and fold, maxBatch \(maxBatch))", calls))
            if let pg = options.postgresURL {
                // What PostgreSQL commits when each item is its own transaction (Evento groups them).
                let commits = try await PostgresLimits.rawCommitRate(url: pg, transactions: 20_000, connections: 16)
                report.limits.append(("raw PostgreSQL one-row transactions, 16 connections", commits))
            }
        }
        report.print(json: options.json)
    }

    /// The commands the server counted as succeeded so far (its /metrics).
    func serverCommandsSucceeded(_ client: BenchClient) async -> Double? {
        guard let r = await client.request("GET", "/metrics") else { return nil }
        return r.text.split(separator: "\n").first { $0.hasPrefix(#"evento_commands_total{status="succeeded"}"#) }
            .flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// Registers the bank's Swift functions unless checking has a handler; says which transport is in use.
    func ensureFunctions(_ client: BenchClient, helpers: inout [Process]) async throws -> String {
        let functions = (await client.get("/functions"))?["functions"]?.arrayValue ?? []
        func has(_ kind: String, _ aggregate: String) -> JSONValue? {
            functions.first { (f: JSONValue) -> Bool in f["kind"]?.stringValue == kind && f["aggregate"]?.stringValue == aggregate }
        }
        if let existing = has("handler", "checking") {
            return "functions already registered: " + (existing["transport"]?["http"] != nil ? "http" : "process")
        }
        var transportFor: (String) throws -> JSONValue
        if transport == "http" {
            let checking = try startHTTPFunction(siblingBinary("checking-function"))
            helpers.append(checking.process)
            let transfer = try startHTTPFunction(siblingBinary("transfer-function"))
            helpers.append(transfer.process)
            transportFor = { (name: String) -> JSONValue in
                let url: String = name == "transfer" ? transfer.url : checking.url
                return .object(["http": .object(["url": .string(url)])])
            }
        } else {
            let workers = Int64(self.workers)
            transportFor = { (name: String) -> JSONValue in
                let binary: String = siblingBinary(name == "transfer" ? "transfer-function" : "checking-function")
                let process: JSONObject = ["command": .array([.string(binary)]), "workers": .int(workers)]
                return .object(["process": .object(process)])
            }
        }
        for (name, kind) in [("checking-handler", "handler"), ("checking-aggregator", "aggregator")] where has(kind, "checking") == nil {
            let t: JSONValue = try transportFor("checking")
            let body: JSONValue = .object([
                "name": .string(name), "kind": .string(kind), "aggregate": .string("checking"), "transport": t, "maxBatch": .int(Int64(maxBatch)),
            ])
            let r = await client.request("POST", "/functions", body: Array(body.jsonText.utf8))
            guard r?.status == 201 else { throw CLIError("cannot register \(name): \(r?.text ?? "no response")") }
        }
        let listening: Set<String> = ["TransferRequested", "transfer.TransferRequested", "*"]
        var dispatches = false
        for f in functions where f["kind"]?.stringValue == "dispatcher" {
            let events: [JSONValue] = f["events"]?.arrayValue ?? []
            for e in events where listening.contains(e.stringValue ?? "") { dispatches = true }
        }
        if !dispatches {
            let t: JSONValue = try transportFor("transfer")
            let body: JSONValue = .object([
                "name": .string("transfer-dispatcher"), "kind": .string("dispatcher"), "events": .array([.string("transfer.TransferRequested")]),
                "transport": t, "maxBatch": .int(Int64(maxBatch)),
            ])
            let r = await client.request("POST", "/functions", body: Array(body.jsonText.utf8))
            guard r?.status == 201 else { throw CLIError("cannot register the transfer dispatcher: \(r?.text ?? "no response")") }
        }
        // A cluster: the other instances start the functions when the store tells them; wait for that.
        for base in client.bases.dropFirst() {
            let one = BenchClient(bases: [base])
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                let names = Set((await one.get("/functions"))?["functions"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
                if names.isSuperset(of: ["checking-handler", "checking-aggregator"]) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        return "registered by the bench: \(transport)"
    }

    func startHTTPFunction(_ binary: String) throws -> (process: Process, url: String) {
        let port = try freeLocalPort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["--http", String(port)]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if (try? Data(contentsOf: URL(string: "http://127.0.0.1:\(port)/healthz")!)) != nil { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return (p, "http://127.0.0.1:\(port)/")
    }

    /// Calls per second the transport alone sustains: the checking handler asked to fold, same concurrency and
    /// batching, no Evento.
    func bareCallRate(concurrency: Int) async throws -> Double {
        var helpers: [Process] = []
        defer { for p in helpers where p.isRunning { p.terminate() } }
        let transportSpec: TransportSpec
        if transport == "http" {
            let f = try startHTTPFunction(siblingBinary("checking-function"))
            helpers.append(f.process)
            transportSpec = .http(url: f.url)
        } else {
            transportSpec = .process(command: [siblingBinary("checking-function")], workers: workers, environment: [:], workingDirectory: nil)
        }
        var logger = Logger(label: "bench")
        logger.logLevel = .warning
        let http = HTTPClient()
        let caller = try await FunctionCaller.start(
            FunctionDefinition(name: "bench-bare", kind: .handler, aggregate: "checking", transport: transportSpec, maxBatch: maxBatch),
            http: http, logger: logger)
        let request = Array(#"{"kind":"handle","fold":true,"command":{"id":"x","entity":"checking:x","type":"DepositCash","payload":{"amount":5},"causationKind":"external","correlationId":"x","attempt":1},"aggregate":{"entity":"checking:x","version":2,"state":{"owner":"b","balance":10,"overdraftLimit":0,"status":"OPEN"}}}"#.utf8)
        let load = LoadGenerator(concurrency: concurrency, duration: .seconds(5), rate: nil, label: "bare calls", unitName: "calls", progress: !options.json)
        let result = await load.run { _, _ in
            do {
                _ = try await caller.call(request)
                return Outcome(ok: true, units: 1, error: nil)
            } catch {
                return Outcome(ok: false, units: 0, error: "\(error)")
            }
        }
        await caller.stop()
        http.shutdown()
        return result.throughput
    }
}

/// A tiny fast PRNG (SplitMix64) for choosing accounts.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
