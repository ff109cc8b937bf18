import ArgumentParser
import EventoCore
import EventoHTTP
import Foundation
import Synchronization

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a running server and report throughput, latency, errors, memory, and the limits beside them.",
        discussion: """
            evento bench events --url http://127.0.0.1:8080 --duration 10 --concurrency 8
            evento bench commands --url http://127.0.0.1:8080 --concurrency 64 --transport process
            evento bench commands --rate 2000 --json        # latency below saturation, one JSON object
            evento bench social --users 600 --friendships 2000   # the social network, checked by brute force
            """,
        subcommands: [EventsBench.self, CommandsBench.self, SocialBench.self, ProjectorBench.self]
    )
}

/// Options every scenario takes.
struct BenchOptions: ParsableArguments {
    @Option(help: "Server URL, or several comma-separated (the instances of a cluster: requests go to each in turn) (default: $EVENTO_URL or http://127.0.0.1:8080).")
    var url: String?
    @Option(help: "Seconds of load.") var duration: Double = 10
    @Option(help: "Concurrent clients.") var concurrency: Int?
    @Option(help: "Operations per second in all (open loop); omit to saturate.") var rate: Double?
    @Flag(help: "Print one JSON object instead of the table.") var json = false
    @Option(name: .customLong("store-url"), help: "The server's PostgreSQL (postgres://…; default: $EVENTO_STORE): its limits are measured beside the figures instead of SQLite's.")
    var storeURL: String?
    @Flag(name: .customLong("no-limits"), help: "Skip measuring the limits (raw SQLite, raw Kafka, bare function calls).") var noLimits = false

    var baseURL: String { baseURLs[0] }

    var postgresURL: String? {
        let u = storeURL ?? Environment.get("EVENTO_STORE")
        return u?.hasPrefix("postgres") == true ? u : nil
    }

    var baseURLs: [String] {
        let list = (url ?? Environment.get("EVENTO_URL") ?? "http://127.0.0.1:8080").split(separator: ",").map {
            $0.hasSuffix("/") ? String($0.dropLast()) : String($0)
        }
        return list.isEmpty ? ["http://127.0.0.1:8080"] : list
    }
}

/// A thin client for the bench: one HTTP client (libcurl multi), JSON in and out.
struct BenchClient: Sendable {
    /// The first server (set-up and checks go there).
    var base: String { bases[0] }
    /// Every server: load requests go to each in turn.
    let bases: [String]
    private let next = RoundRobin()

    init(bases: [String]) { self.bases = bases }

    /// The server for the next load request.
    var anyBase: String { bases.count == 1 ? bases[0] : bases[next.take() % bases.count] }
    let http = HTTPClient(configuration: {
        var c = HTTPClient.Configuration()
        c.maxConnectionsPerHost = 512
        return c
    }())

    /// A response; its body is parsed only when asked (the bench client shares the machine with the
    /// server it measures, so it does no work it does not need).
    struct Response {
        var status: Int
        var body: [UInt8]
        /// Seconds the server asked to wait (`Retry-After`), on a 429 or 503.
        var retryAfter: Int?
        var json: JSONValue { (try? JSONParser.parse(body)) ?? .null }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func request(_ method: String, _ path: String, body: [UInt8]? = nil, timeout: Duration = .seconds(60)) async -> Response? {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        // A scoped token ($EVENTO_TOKEN; registering the bench's functions needs an admin one), else the admin token.
        if let token = Environment.get("EVENTO_TOKEN") ?? Environment.get("EVENTO_ADMIN_TOKEN") { headers.append(("Authorization", "Bearer \(token)")) }
        guard let r = try? await http.execute(HTTPClientRequest(method: method, url: (path.hasPrefix("/commands") || path.hasPrefix("/events") ? anyBase : base) + path, headers: headers, body: body, timeout: timeout, collectHeaders: true)) else {
            return nil
        }
        return Response(status: r.status, body: r.body, retryAfter: r.header("Retry-After").flatMap { Int($0) })
    }

    /// After a 429: waits what the server asked (`Retry-After`, 1 s when it did not say), so that a client
    /// of an overloaded server backs off instead of hammering it.
    static func backOff(_ r: Response) async -> Outcome {
        try? await Task.sleep(for: .seconds(max(1, min(r.retryAfter ?? 1, 30))))
        return .refusedOutcome
    }

    func get(_ path: String) async -> JSONValue? { await request("GET", path).map(\.json) }
}

/// Results, as a table or JSON.
struct BenchReport {
    var scenario: String
    var unit: String
    var load: LoadResult
    var concurrency: Int
    var rate: Double?
    var acknowledged: Int
    var verified: Bool
    var verification: String
    var serverPeakRssBytes: Int?
    var kafkaLag: Int64?
    var limits: [(name: String, perSecond: Double)] = []
    var extra: [(String, String)] = []

    func print(json: Bool) {
        if json {
            printJSON()
        } else {
            printTable()
        }
    }

    private func rounded(_ v: Double, _ places: Double = 10) -> JSONValue { .double((v * places).rounded() / places) }

    private func printJSON() {
        var o = JSONObject()
        o["scenario"] = .string(scenario)
        o["unit"] = .string(unit)
        o["throughputPerSecond"] = rounded(load.throughput)
        o["p50Ms"] = rounded(load.percentileMs(50), 1000)
        o["p90Ms"] = rounded(load.percentileMs(90), 1000)
        o["p99Ms"] = rounded(load.percentileMs(99), 1000)
        o["maxMs"] = rounded(load.maxMs, 1000)
        o["errors"] = .int(Int64(load.errors))
        o["refused429"] = .int(Int64(load.refused))
        if !load.serviceLatencies.isEmpty {
            o["sentToAnswerP50Ms"] = rounded(load.serviceMs(50), 1000)
            o["sentToAnswerP99Ms"] = rounded(load.serviceMs(99), 1000)
        }
        o["acknowledged"] = .int(Int64(acknowledged))
        o["verified"] = .bool(verified)
        o["verification"] = .string(verification)
        o["durationSeconds"] = rounded(load.seconds, 100)
        o["concurrency"] = .int(Int64(concurrency))
        o["operations"] = .int(Int64(load.operations))
        if let rate { o["ratePerSecond"] = .double(rate) }
        if let r = serverPeakRssBytes { o["serverPeakRssBytes"] = .int(Int64(r)) }
        if let k = kafkaLag { o["kafkaOutboxLag"] = .int(k) }
        if let e = load.firstError { o["firstError"] = .string(e) }
        if !limits.isEmpty {
            var l = JSONObject()
            var r = JSONObject()
            for limit in limits {
                l[limit.name] = rounded(limit.perSecond)
                let ratio: Double = limit.perSecond > 0 ? load.throughput / limit.perSecond : 0
                r[limit.name] = rounded(ratio, 1000)
            }
            o["limits"] = .object(l)
            o["ratios"] = .object(r)
        }
        for (k, v) in extra { o[k] = .string(v) }
        output(JSONValue.object(o).jsonText)
    }

    private func printTable() {
        var rows: [(String, String)] = []
        let rateText: String = rate.map { " at \(Format.int(Int($0)))/s" } ?? " (saturating)"
        rows.append(("scenario", scenario + rateText))
        rows.append(("throughput", "\(Format.int(Int(load.throughput))) \(unit)/s"))
        let p50: String = Format.ms(load.percentileMs(50))
        let p90: String = Format.ms(load.percentileMs(90))
        let p99: String = Format.ms(load.percentileMs(99))
        let maxText: String = Format.ms(load.maxMs)
        rows.append(("latency p50 / p90 / p99 / max", "\(p50) / \(p90) / \(p99) / \(maxText)"))
        if !load.serviceLatencies.isEmpty {
            rows.append(("accepted work, from its send p50 / p99", "\(Format.ms(load.serviceMs(50))) / \(Format.ms(load.serviceMs(99))) (the line above counts from each operation's slot in the schedule)"))
        }
        var errorsText: String = "\(Format.int(load.operations)) / \(Format.int(load.errors))"
        if let first = load.firstError { errorsText += " (first: \(first.prefix(80)))" }
        rows.append(("operations / errors", errorsText))
        if load.refused > 0 {
            let rate = Double(load.refused) / max(load.seconds, 1e-9)
            rows.append(("refused with 429 (backed off)", "\(Format.int(load.refused)) (\(String(format: "%.1f", rate))/s): the server's backlog was full"))
        }
        rows.append(("acknowledged", "\(Format.int(acknowledged)) \(unit)"))
        let verifiedText: String = verified ? "yes" : "NO"
        rows.append(("store holds what was acknowledged", verifiedText + " — " + verification))
        if let r = serverPeakRssBytes { rows.append(("server peak RSS", Format.mb(r))) }
        if let k = kafkaLag { rows.append(("Kafka outbox lag at the end", "\(Format.int(Int(k))) events")) }
        for l in limits {
            let ratio: String = Format.ratio(load.throughput, l.perSecond)
            rows.append(("limit: \(l.name)", "\(Format.int(Int(l.perSecond)))/s — Evento at \(ratio)"))
        }
        rows += extra
        var width = 0
        for (k, _) in rows { width = max(width, k.count) }
        for (k, v) in rows { output(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v) }
    }
}

/// Where the binaries built beside `evento` live (checking-function, transfer-function).
func siblingBinary(_ name: String) -> String {
    let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    return me.deletingLastPathComponent().appendingPathComponent(name).path
}

/// A counter shared by a bench's clients.
final class RoundRobin: Sendable {
    private let value = Mutex(0)
    func take() -> Int { value.withLock { v in defer { v &+= 1 }; return v } }
}
