import ArgumentParser
import EventoCore
import Foundation
import Synchronization

/// `evento bench social`: the social network of functions/social (users, the friendship saga, the projector,
/// the recommendations query), loaded and then checked against a brute-force computation.
struct SocialBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "social",
        abstract: "The social network: users, friendships through the saga, then every user's recommendations checked by brute force.",
        discussion: """
            Registers schemas/user.avsc and the functions of functions/social/social.json (Python process workers)
            when the server lacks them, found in --root (default: the current directory, else the checkout this
            binary was built in). Then creates --users users concurrently (POST /commands?wait=true), sends
            --friendships AddFriend commands between random users concurrently (POST /commands?wait=tree: answered
            once the saga is over on both sides), a few of them to users who do not exist, waits until the projector
            has no lag, and checks every user's friends view and "friends you may know" (GET
            /queries/social-recommendations) against what it computes from the friendships the server accepted,
            and every rejection against the rules. Exits non-zero on any mismatch.
            The work is fixed by --users and --friendships: --duration and --rate do not apply.
            """)

    @OptionGroup var options: BenchOptions
    @Option(help: "Users to create.") var users = 600
    @Option(help: "Friendship requests (AddFriend) between random users; some name the user itself or a pair again.") var friendships = 2000
    @Option(help: "Share of friendship requests that name a user who does not exist.") var unknown = 0.01
    @Option(help: "Recommendations asked per user (the query's limit).") var limit = 10
    @Option(name: .customLong("query-concurrency"), help: "Concurrent recommendation queries (social.json gives the query 4 workers; more only queue).")
    var queryConcurrency = 4
    @Option(help: "Seed of the random friendships.") var seed: UInt64 = 1
    @Option(help: "The Evento checkout holding functions/social and schemas/user.avsc (to register them when missing).") var root: String?

    static let projector = "social-projector"
    static let recommendations = "social-recommendations"

    func run() async throws {
        guard users >= 2 else { throw ValidationError("--users: at least 2") }
        guard friendships >= 0, (0...1).contains(unknown), (1...1000).contains(limit) else {
            throw ValidationError("--friendships ≥ 0, --unknown in 0…1, --limit in 1…1000")
        }
        let client = BenchClient(bases: options.baseURLs)
        guard await client.get("/healthz") != nil else { throw CLIError("cannot reach Evento at \(options.baseURL)") }
        let registered = try await ensureSocial(client)
        let concurrency = options.concurrency ?? 32
        let progress = !options.json
        let run = "s" + Identifiers.uuidV7().suffix(8)
        let ids = (0..<users).map { "\(run)-\($0)" }
        let usernames = (0..<users).map { "\(run)_user\($0)" }

        // 1. Users, concurrently; then a few CreateUser with a taken username in another case: each a 409.
        let created = Locked<Set<Int>>([])
        let userLoad = await FixedWorkload(count: users, concurrency: concurrency, label: "users", progress: progress).run { i in
            let body: JSONValue = [
                "entity": .string("user:" + ids[i]), "type": "CreateUser",
                "payload": ["username": .string(usernames[i]), "name": .string("User \(i)")],
            ]
            guard let r = await client.request("POST", "/commands?wait=true", body: Array(body.jsonText.utf8)) else {
                return Outcome(ok: false, units: 0, error: "no response")
            }
            guard r.status == 200, r.json["command"]?["status"] == "succeeded", r.json["events"]?[0]?["type"] == "UserCreated" else {
                return Outcome(ok: false, units: 0, error: "CreateUser \(ids[i]): \(r.status) \(r.text.prefix(200))")
            }
            created.withLock { _ = $0.insert(i) }
            return Outcome(ok: true, units: 1, error: nil)
        }
        let duplicates = max(1, users / 50)
        var refused = 0
        var firstUnrefused: String?
        for k in 0..<duplicates {
            let taken = usernames[(k * 7919) % users].uppercased()
            let body: JSONValue = ["entity": .string("user:\(run)-dup-\(k)"), "type": "CreateUser", "payload": ["username": .string(taken), "name": "Copy"]]
            let r = await client.request("POST", "/commands?wait=true", body: Array(body.jsonText.utf8))
            if r?.status == 409 {
                refused += 1
            } else {
                firstUnrefused = firstUnrefused ?? "\(r?.status ?? 0) \(r?.text.prefix(200) ?? "no response")"
            }
        }

        // 2. Friendships: random pairs (the same pair twice, a user and itself, a user who does not exist).
        var rng = SplitMix(seed: seed)
        let users = self.users
        let pairs: [(a: Int, b: String)] = (0..<friendships).map { k in
            let a = Int(rng.next() % UInt64(users))
            if Double(rng.next() % 1_000_000) / 1_000_000 < unknown { return (a, "\(run)-ghost-\(k)") }
            return (a, ids[Int(rng.next() % UInt64(users))])
        }
        let outcomes = Locked<[Int: FriendshipOutcome]>([:])
        let friendLoad = await FixedWorkload(count: friendships, concurrency: concurrency, label: "friendships", progress: progress).run { k in
            let (a, b) = pairs[k]
            let body: JSONValue = ["entity": .string("user:" + ids[a]), "type": "AddFriend", "payload": ["friend": .string(b)]]
            guard let r = await client.request("POST", "/commands?wait=tree", body: Array(body.jsonText.utf8)) else {
                return Outcome(ok: false, units: 0, error: "no response")
            }
            guard r.status == 200, let outcome = FriendshipOutcome(tree: r.json, asker: "user:" + ids[a]) else {
                return Outcome(ok: false, units: 0, error: "AddFriend \(ids[a]) → \(b): \(r.status) \(r.text.prefix(300))")
            }
            outcomes.withLock { $0[k] = outcome }
            return Outcome(ok: true, units: 1, error: nil)
        }

        // 3. The projector catches up (every saga is over, so its events are all committed).
        let catchUpStart = ContinuousClock.now
        var lag: Int64 = -1
        while ContinuousClock.now - catchUpStart < .seconds(120) {
            lag = (await client.get("/projectors/\(Self.projector)"))?["lag"]?.intValue ?? -1
            if lag == 0 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let catchUp = seconds(since: catchUpStart)
        guard lag == 0 else { throw CLIError("the projector \(Self.projector) still lags by \(lag) after 120 s") }

        // 4. What the server should hold: the friendships it accepted, each rejection justified by the rules.
        let exists = created.value
        let index = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
        let answered = outcomes.value
        var edges = Set<Pair>()
        for (k, outcome) in answered where outcome == .accepted {
            if let b = index[pairs[k].b] { edges.insert(Pair(pairs[k].a, b)) }
        }
        var wrongOutcomes: [String] = []
        var reasons: [String: Int] = [:]
        for (k, outcome) in answered.sorted(by: { $0.key < $1.key }) {
            let (a, bId) = pairs[k]
            let b = index[bId]
            let allowed: Set<String>
            if !exists.contains(a) {
                allowed = ["UNKNOWN_USER"]
            } else if b == a {
                allowed = ["SELF"]
            } else if let b, exists.contains(b) {
                // Accepted, or refused as a duplicate of a request for the same pair that was.
                allowed = edges.contains(Pair(a, b)) ? ["accepted", "ALREADY_FRIENDS", "REQUEST_PENDING"] : ["accepted"]
            } else {
                allowed = ["UNKNOWN_FRIEND"]
            }
            let got: String
            switch outcome {
            case .accepted: got = "accepted"
            case .rejected(let reason): got = reason
            }
            reasons[got, default: 0] += 1
            if !allowed.contains(got) { wrongOutcomes.append("AddFriend \(ids[a]) → \(bId): \(got), expected \(allowed.sorted().joined(separator: " or "))") }
        }
        var adjacency = [Set<Int>](repeating: [], count: users)
        for e in edges {
            adjacency[e.low].insert(e.high)
            adjacency[e.high].insert(e.low)
        }

        // 5. Every user's friends view.
        var wrongFriends: [String] = []
        for chunk in stride(from: 0, to: users, by: 200) {
            let keys = Array(ids[chunk..<min(users, chunk + 200)])
            let body: JSONValue = ["keys": .array(keys.map(JSONValue.string))]
            guard let r = await client.request("POST", "/views/friends/_get", body: Array(body.jsonText.utf8)), r.status == 200 else {
                throw CLIError("POST /views/friends/_get failed")
            }
            var found: [String: Set<String>] = [:]
            for item in r.json["items"]?.arrayValue ?? [] {
                guard let key = item["key"]?.stringValue else { continue }
                let members = item["doc"]?["friends"]?.objectValue?.members ?? []
                found[key] = Set(members.filter { $0.value == .bool(true) }.map(\.key))
            }
            for key in keys {
                let want = Set(adjacency[index[key]!].map { ids[$0] })
                if found[key] ?? [] != want { wrongFriends.append("\(key): friends \((found[key] ?? []).sorted()), expected \(want.sorted())") }
            }
        }

        // 6. Every user's recommendations, against brute force.
        let limit = self.limit
        let queryConcurrency = max(1, self.queryConcurrency)
        let graph = adjacency
        let wrongRecommendations = Locked<[String]>([])
        let queryLoad = await FixedWorkload(count: users, concurrency: queryConcurrency, label: "queries", progress: progress).run { i in
            guard let r = await client.request("GET", "/queries/\(Self.recommendations)?user=\(ids[i])&limit=\(limit)") else {
                return Outcome(ok: false, units: 0, error: "no response")
            }
            guard r.status == 200 else { return Outcome(ok: false, units: 0, error: "recommendations \(ids[i]): \(r.status) \(r.text.prefix(200))") }
            let got = (r.json["recommendations"]?.arrayValue ?? []).map {
                "\($0["id"]?.stringValue ?? "?")×\($0["mutualFriends"]?.intValue ?? -1)@\($0["username"]?.stringValue ?? "?")"
            }
            let want = Self.bruteForceRecommendations(of: i, adjacency: graph, ids: ids, limit: limit).map {
                "\(ids[$0.user])×\($0.mutual)@\(usernames[$0.user])"
            }
            if got != want { wrongRecommendations.withLock { $0.append("\(ids[i]): \(got), expected \(want)") } }
            return Outcome(ok: true, units: 1, error: nil)
        }

        // 7. The report.
        let mismatches = wrongOutcomes + wrongFriends + wrongRecommendations.value
        let complete = userLoad.errors == 0 && friendLoad.errors == 0 && queryLoad.errors == 0 && refused == duplicates
        let health = await client.get("/healthz")
        let verification =
            "\(Format.int(edges.count)) friendships among \(Format.int(exists.count)) users; "
            + "\(wrongOutcomes.count) answers, \(wrongFriends.count) friends views and \(wrongRecommendations.value.count) of "
            + "\(Format.int(queryLoad.units)) recommendation lists differ from brute force"
        var report = BenchReport(
            scenario: "social (\(users) users, \(friendships) friendship requests, \(registered))", unit: "friendships", load: friendLoad,
            concurrency: concurrency, rate: nil, acknowledged: answered.count, verified: complete && mismatches.isEmpty,
            verification: verification, serverPeakRssBytes: health?["peakRssBytes"]?.intValue.map { Int($0) })
        report.extra.append(("users created", "\(Format.int(userLoad.units)) in \(String(format: "%.1f", userLoad.seconds)) s = \(Format.int(Int(userLoad.throughput))) users/s, p50 / p99 \(Format.ms(userLoad.percentileMs(50))) / \(Format.ms(userLoad.percentileMs(99)))"))
        report.extra.append(("taken usernames refused (409)", "\(refused) of \(duplicates)" + (firstUnrefused.map { " (first not: \($0))" } ?? "")))
        report.extra.append(("friendship answers", reasons.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))
        report.extra.append(("projector lag 0 after the last answer", String(format: "%.2f s", catchUp)))
        report.extra.append(("recommendation queries (\(queryConcurrency) at a time)", "\(Format.int(queryLoad.units)) in \(String(format: "%.1f", queryLoad.seconds)) s = \(Format.int(Int(queryLoad.throughput)))/s, p50 / p99 \(Format.ms(queryLoad.percentileMs(50))) / \(Format.ms(queryLoad.percentileMs(99)))"))
        for (load, name) in [(userLoad, "users"), (queryLoad, "queries")] where load.errors > 0 {
            report.extra.append(("\(name) errors", "\(load.errors) (first: \(load.firstError?.prefix(200) ?? ""))"))
        }
        for m in mismatches.prefix(10) { report.extra.append(("mismatch", m)) }
        report.print(json: options.json)
        if !report.verified { throw ExitCode.failure }
    }

    /// "Friends you may know" by brute force: friends of friends, not the user nor a friend, by mutual friends, ties by id.
    static func bruteForceRecommendations(of user: Int, adjacency: [Set<Int>], ids: [String], limit: Int) -> [(user: Int, mutual: Int)] {
        var shared: [Int: Int] = [:]
        for friend in adjacency[user] {
            for candidate in adjacency[friend] where candidate != user && !adjacency[user].contains(candidate) {
                shared[candidate, default: 0] += 1
            }
        }
        let ranked = shared.sorted { $0.value != $1.value ? $0.value > $1.value : ids[$0.key] < ids[$1.key] }
        return ranked.prefix(limit).map { (user: $0.key, mutual: $0.value) }
    }

    /// Registers what the server lacks: the user schema, the functions of social.json (by name). Says which.
    func ensureSocial(_ client: BenchClient) async throws -> String {
        var did: [String] = []
        if await client.request("GET", "/schemas/user")?.status != 200 {
            let schema = try String(contentsOfFile: try socialRoot() + "/schemas/user.avsc", encoding: .utf8)
            let r = await client.request("PUT", "/schemas/user", body: Array(schema.utf8))
            guard let r, r.status < 300 else { throw CLIError("cannot register schemas/user.avsc: \(r?.text ?? "no response")") }
            did.append("schema")
        }
        let present = Set((await client.get("/functions"))?["functions"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
        var wanted: [String] = []
        if !present.contains(Self.projector) || !present.contains(Self.recommendations) || !present.contains("user-handler") {
            let root = try socialRoot()
            let file = try JSONParser.parse(Array(try String(contentsOfFile: root + "/functions/social/social.json", encoding: .utf8).utf8))
            for f in file["functions"]?.arrayValue ?? [] {
                guard case .object(var definition) = f, let name = definition["name"]?.stringValue else { continue }
                wanted.append(name)
                if present.contains(name) { continue }
                // The file's paths are relative to the checkout; the server may run anywhere.
                if case .object(var transport)? = definition["transport"], case .object(var process)? = transport["process"],
                    let command = process["command"]?.arrayValue
                {
                    process["command"] = .array(
                        command.map { (arg: JSONValue) -> JSONValue in
                            guard let a = arg.stringValue, a.hasSuffix(".py"), !a.hasPrefix("/") else { return arg }
                            return .string(root + "/" + a)
                        })
                    transport["process"] = .object(process)
                    definition["transport"] = .object(transport)
                }
                let r = await client.request("POST", "/functions", body: Array(JSONValue.object(definition).jsonText.utf8))
                guard r?.status == 201 else { throw CLIError("cannot register \(name): \(r?.text ?? "no response")") }
                did.append(name)
            }
        }
        // A cluster: the other instances learn of schemas and functions from the store; wait for that.
        for base in client.bases.dropFirst() where !did.isEmpty {
            let one = BenchClient(bases: [base])
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                let names = Set((await one.get("/functions"))?["functions"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
                if names.isSuperset(of: wanted), await one.request("GET", "/schemas/user")?.status == 200 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        let functions = did.filter { $0 != "schema" }
        var parts: [String] = did.contains("schema") ? ["schemas/user.avsc"] : []
        if !functions.isEmpty { parts.append(functions.count == wanted.count ? "functions/social/social.json" : functions.joined(separator: ", ")) }
        return parts.isEmpty ? "functions already registered" : "registered by the bench: " + parts.joined(separator: " and ")
    }

    /// The checkout holding functions/social: --root, the current directory, or above this binary.
    func socialRoot() throws -> String {
        if let root { return root }
        var candidates = [FileManager.default.currentDirectoryPath]
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(dir.path)
            dir = dir.deletingLastPathComponent()
        }
        for c in candidates where FileManager.default.fileExists(atPath: c + "/functions/social/social.json") { return c }
        throw CLIError("cannot find functions/social/social.json to register the social network: run from the Evento checkout or pass --root")
    }

    func seconds(since start: ContinuousClock.Instant) -> Double { Double((ContinuousClock.now - start) / .milliseconds(1)) / 1000 }
}

/// How one AddFriend ended, read from its causal tree (`POST /commands?wait=tree`).
enum FriendshipOutcome: Equatable, Sendable {
    /// A FriendAdded in the tree: the two are friends.
    case accepted
    /// The asker's FriendshipRejected, with its reason.
    case rejected(String)

    init?(tree: JSONValue, asker: String) {
        let events = tree["events"]?.arrayValue ?? []
        if events.contains(where: { $0["type"] == "FriendAdded" }) {
            self = .accepted
        } else if let rejection = events.first(where: { $0["type"] == "FriendshipRejected" && $0["entity"] == .string(asker) }),
            let reason = rejection["payload"]?["reason"]?.stringValue
        {
            self = .rejected(reason)
        } else {
            return nil
        }
    }
}

/// An unordered pair of users.
struct Pair: Hashable {
    let low: Int
    let high: Int
    init(_ a: Int, _ b: Int) {
        low = min(a, b)
        high = max(a, b)
    }
}

/// A fixed amount of work (`count` operations) spread over `concurrency` clients, as fast as they go; the
/// figures in the shape the duration-bound `LoadGenerator` gives.
struct FixedWorkload {
    var count: Int
    var concurrency: Int
    var label: String
    var progress: Bool

    func run(_ operation: @escaping @Sendable (_ index: Int) async -> Outcome) async -> LoadResult {
        let next = RoundRobin()
        let shared = LoadGenerator.Shared()
        let start = ContinuousClock.now
        let latencies = await withTaskGroup(of: [UInt32].self) { group in
            for _ in 0..<max(1, min(concurrency, count)) {
                group.addTask {
                    var latencies: [UInt32] = []
                    while true {
                        let i = next.take()
                        guard i < count else { break }
                        let began = ContinuousClock.now
                        let outcome = await operation(i)
                        if outcome.ok {
                            shared.units.add(outcome.units, ordering: .relaxed)
                            latencies.append(UInt32(clamping: Int64((ContinuousClock.now - began) / .microseconds(1))))
                        } else {
                            shared.errors.add(1, ordering: .relaxed)
                            if let e = outcome.error { shared.firstError.withLock { $0 = $0 ?? e } }
                        }
                    }
                    return latencies
                }
            }
            var all: [UInt32] = []
            for await l in group { all += l }
            return all
        }
        let seconds = Double((ContinuousClock.now - start) / .milliseconds(1)) / 1000
        if progress {
            let units = shared.units.load(ordering: .relaxed)
            FileHandle.standardError.write(Data("[\(label)] \(Format.int(units)) in \(String(format: "%.1f", seconds)) s\n".utf8))
        }
        return LoadResult(
            operations: latencies.count + shared.errors.load(ordering: .relaxed), units: shared.units.load(ordering: .relaxed),
            errors: shared.errors.load(ordering: .relaxed), firstError: shared.firstError.withLock { $0 }, seconds: seconds,
            latencies: latencies.sorted())
    }
}
