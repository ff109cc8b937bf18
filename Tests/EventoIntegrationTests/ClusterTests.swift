import EventoCore
import Foundation
import Synchronization
import Testing

/// Several `evento serve` instances on one PostgreSQL database (issue: scale out). Each test gets its own
/// schema of the test database (`?schema=`), so tests never see each other's data.
let testPostgresURL = ProcessInfo.processInfo.environment["EVENTO_TEST_POSTGRES_URL"]

@Suite(.serialized, .enabled(if: testPostgresURL != nil, "EVENTO_TEST_POSTGRES_URL names a PostgreSQL server"))
struct ClusterTests {
    static var postgresURL: String? { testPostgresURL }

    /// A store URL with a schema of its own.
    static func storeURL() -> String {
        postgresURL! + "?schema=it_" + Identifiers.uuidV7().replacingOccurrences(of: "-", with: "").suffix(16)
    }

    /// Starts `count` instances on one fresh schema and waits until they have split every partition.
    static func cluster(_ count: Int, leaseTTLMs: Int = 2000, extra: [String] = []) async throws -> [ServerProcess] {
        let url = storeURL()
        var servers: [ServerProcess] = []
        for _ in 0..<count {
            servers.append(
                try await ServerProcess(
                    arguments: ["--store", url, "--lease-ttl-ms", String(leaseTTLMs), "--partitions", "16"] + extra, strictSchemas: true))
        }
        try await eventually(timeout: .seconds(30), "every partition owned, spread over \(count) instances") {
            let c = try await servers[0].get("/cluster").json
            let instances = c["instances"]?.arrayValue ?? []
            return instances.count == count && c["unownedPartitions"] == 0
                && instances.allSatisfy { ($0["partitions"]?.arrayValue?.count ?? 0) >= 16 / count }
        }
        return servers
    }

    /// The checking account's handler and aggregator, registered on one instance (the others start them
    /// when the store tells them).
    static func registerChecking(on servers: [ServerProcess]) async throws {
        for name in ["checking-handler", "checking-aggregator"] {
            let r = try await servers[0].register([
                "name": .string(name), "kind": .string(name.hasSuffix("handler") ? "handler" : "aggregator"), "aggregate": "checking",
                "transport": ["process": ["command": [.string(Fixtures.checkingFunction)], "workers": 2]],
            ])
            #expect(r.status == 201, "\(r.text)")
        }
        for s in servers {
            try await eventually(timeout: .seconds(20), "the functions run on every instance") {
                (try await s.get("/functions").json["functions"]?.arrayValue?.count ?? 0) == 2
            }
        }
    }

    @Test func threeInstancesRunEveryEntitysCommandsOnceAndInOrderAndAFollowerSeesTheFeedExactly() async throws {
        let servers = try await Self.cluster(3)
        try await Self.registerChecking(on: servers)
        let cluster = try await servers[1].get("/cluster").json
        #expect(cluster["partitions"] == 16)
        #expect(cluster["relays"]?.arrayValue?.contains { $0["name"] == "dispatch" } == true, "\(cluster)")

        // A follower tails the feed on the second instance while all three write.
        let stop = Shared(false)
        let follower = Task { () throws -> [JSONValue] in
            var seen: [JSONValue] = []
            var after: Int64 = 0
            var quietRounds = 0
            while true {
                let page = try await servers[1].get("/events?afterPosition=\(after)&limit=500&waitMs=500").json["events"]?.arrayValue ?? []
                seen += page
                if let last = page.last?["position"]?.intValue { after = last }
                if page.isEmpty && stop.withLock({ $0 }) {
                    quietRounds += 1
                    if quietRounds >= 2 { return seen }
                } else {
                    quietRounds = 0
                }
            }
        }

        // 50 entities, each: open, then 4 deposits of 1…4, every command through the next instance in turn.
        let entities = 50
        let replies = try await withThrowingTaskGroup(of: [(String, Int, JSONValue)].self) { group in
            for i in 0..<entities {
                group.addTask {
                    var out: [(String, Int, JSONValue)] = []
                    let entity = "checking:c\(i)"
                    let r = try await servers[i % 3].send(entity, "OpenAccount", ["owner": .string("o\(i)")])
                    out.append((entity, r.status, r.json))
                    for k in 1...4 {
                        let r = try await servers[(i + k) % 3].send(entity, "DepositCash", ["amount": .int(Int64(k))])
                        out.append((entity, r.status, r.json))
                    }
                    return out
                }
            }
            var all: [(String, Int, JSONValue)] = []
            for try await r in group { all += r }
            return all
        }
        #expect(replies.count == entities * 5)
        for (entity, status, json) in replies {
            #expect(status == 200, "\(entity): \(json)")
            #expect(json["command"]?["status"] == "succeeded", "\(entity): \(json)")
        }
        // Commands logged through one instance and run through another keep their order: per entity, six
        // deposits sent one after the other through the three instances in turn, every other one without
        // waiting (answered once logged), the next one after that answer.
        for i in 0..<10 {
            let entity = "checking:o\(i)"
            #expect(try await servers[i % 3].send(entity, "OpenAccount", ["owner": .string("o\(i)")]).status == 200)
            for k in 1...6 {
                let body: JSONValue = ["entity": .string(entity), "type": "DepositCash", "payload": ["amount": .int(Int64(k))]]
                let r = try await servers[(i + k) % 3].post(k % 2 == 1 ? "/commands" : "/commands?wait=true", json: body)
                #expect(r.status == (k % 2 == 1 ? 202 : 200), "\(r.text)")
            }
        }
        for i in 0..<10 {
            try await eventually(timeout: .seconds(20), "checking:o\(i) has its seven events") {
                try await servers[0].events(of: "checking:o\(i)").count == 7
            }
            let amounts = try await servers[1].events(of: "checking:o\(i)").dropFirst().map { $0["payload"]?["amount"]?.intValue ?? 0 }
            #expect(amounts == [1, 2, 3, 4, 5, 6], "checking:o\(i): deposits in the order they were sent")
        }

        // Every entity's events: gapless, in command order, one per command; read through each instance.
        for i in 0..<entities {
            let events = try await servers[(i + 2) % 3].events(of: "checking:c\(i)")
            #expect(events.map { $0["sequence"]?.intValue ?? 0 } == [1, 2, 3, 4, 5], "checking:c\(i)")
            #expect(events.map { $0["type"]?.stringValue ?? "" } == ["AccountOpened"] + Array(repeating: "CashDeposited", count: 4))
            #expect(events.dropFirst().map { $0["payload"]?["amount"]?.intValue ?? 0 } == [1, 2, 3, 4], "checking:c\(i) deposits in order")
            #expect(events.last?["payload"]?["balance"]?.intValue == 10)
            #expect(Set(events.compactMap { $0["causationId"]?.stringValue }).count == 5, "one event per command")
        }
        // Each instance reports its own share.
        var owned: Int64 = 0
        for s in servers {
            let metrics = try await s.get("/metrics").text
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("evento_cluster_partitions_owned ") }
            owned += Int64(Double(line?.split(separator: " ").last ?? "") ?? 0)
        }
        #expect(owned == 16, "the instances' evento_cluster_partitions_owned add up to every partition")
        // Waited-for commands sent to an instance that does not run their entity were passed to the one that does.
        var routed: Int64 = 0
        for s in servers {
            let metrics = try await s.get("/metrics").text
            let line = metrics.split(separator: "\n").first { $0.hasPrefix("evento_cluster_commands_routed_total ") }
            routed += Int64(Double(line?.split(separator: " ").last ?? "") ?? 0)
        }
        #expect(routed > 0, "commands were routed to their entity's instance")
        stop.withLock { $0 = true }
        let followed = try await follower.value
        let positions = followed.compactMap { $0["position"]?.intValue }
        let total = entities * 5 + 10 * 7
        #expect(positions == Array(1...Int64(total)), "the follower saw every position once, in order")
        #expect(Set(followed.compactMap { $0["id"]?.stringValue }).count == total)
        for s in servers { #expect(await s.stop(), "graceful shutdown") }
    }

    @Test func aKilledInstancesPartitionsMoveAndNothingAcknowledgedIsLostOrDoubled() async throws {
        let broker = try await TansuBroker()
        let servers = try await Self.cluster(3, extra: ["--kafka-brokers", broker.address])
        try await Self.registerChecking(on: servers)
        // The victim: the instance that runs the Kafka relay if any, so that the relay's failover is tried too.
        let c = try await servers[0].get("/cluster").json
        let kafkaOwner = c["relays"]?.arrayValue?.first { $0["name"] == "kafka" }?["instance"]?.stringValue
        var victim = 2
        for (i, s) in servers.enumerated() where (try await s.get("/cluster").json["self"]?.stringValue) == kafkaOwner { victim = i }
        let victimIndex = victim

        let acknowledged = Shared<[String: String]>([:])  // command id → entity
        let killed = Shared(false)
        let entities = 30
        let load = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<entities {
                    group.addTask {
                        let entity = "checking:k\(i)"
                        var opened = false
                        var k = 0
                        let end = ContinuousClock.now + .seconds(8)
                        while ContinuousClock.now < end {
                            // Through any instance still up, in turn.
                            let up = servers.indices.filter { !(killed.withLock { $0 } && $0 == victimIndex) }
                            let server = servers[up[(i + k) % up.count]]
                            k += 1
                            let id = "cmd-\(i)-\(k)"
                            let (type, payload): (String, JSONValue) =
                                opened ? ("DepositCash", ["amount": .int(1)]) : ("OpenAccount", ["owner": .string("o\(i)")])
                            guard let r = try? await server.post("/commands?wait=true&timeoutMs=20000", json: ["id": .string(id), "entity": .string(entity), "type": .string(type), "payload": payload]) else {
                                continue  // the connection broke (the instance died): not acknowledged
                            }
                            if r.status == 200 || r.status == 202 {
                                acknowledged.withLock { $0[id] = entity }
                                opened = true
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        try await Task.sleep(for: .seconds(3))
        killed.withLock { $0 = true }
        let killedAt = ContinuousClock.now
        await servers[victimIndex].kill()
        // The documented bound: the survivors hold every partition within the lease time-to-live (2 s here)
        // plus a tick (0.5 s), give or take a loaded machine.
        let watcher = servers[(victimIndex + 1) % 3]
        try await eventually(timeout: .seconds(15), "the survivors hold every partition") {
            let c = try await watcher.get("/cluster").json
            let instances = c["instances"]?.arrayValue ?? []
            let held = instances.reduce(0) { $0 + ($1["partitions"]?.arrayValue?.count ?? 0) }
            return instances.count == 2 && held == 16
        }
        let takeover = ContinuousClock.now - killedAt
        print("cluster failover: partitions taken \(takeover) after the kill")
        #expect(takeover < .seconds(6), "the killed instance's partitions moved within the bound (took \(takeover))")
        try await load.value
        let survivor = servers[(victimIndex + 1) % 3]
        // Every acknowledged command finishes on the survivors within the documented bound.
        let ids = acknowledged.withLock { $0 }
        #expect(ids.count > 100, "the load got going (\(ids.count) acknowledged)")
        let unfinished = Shared<[String]>([])
        defer { if !unfinished.withLock({ $0.isEmpty }) { print("unfinished: \(unfinished.withLock { $0.prefix(5) })") } }
        try await eventually(timeout: .seconds(30), "every acknowledged command finished") {
            var left: [String] = []
            for id in ids.keys {
                let c = try await survivor.command(id)
                if c["status"] != "succeeded" { left.append("\(id): \(c["status"]?.stringValue ?? c.jsonText)") }
            }
            unfinished.withLock { $0 = left }
            return left.isEmpty
        }
        let failover = ContinuousClock.now - killedAt
        print("cluster failover: all \(ids.count) acknowledged commands done \(failover) after the kill")
        let c2 = try await survivor.get("/cluster").json
        #expect(c2["instances"]?.arrayValue?.count == 2)
        #expect(c2["unownedPartitions"] == 0)
        // No event lost or doubled: one event per acknowledged command, gapless streams and feed.
        var eventCount = 0
        for i in 0..<entities {
            let events = try await survivor.events(of: "checking:k\(i)")
            #expect(events.map { $0["sequence"]?.intValue ?? 0 } == Array(1...Int64(max(events.count, 1))).prefix(events.count).map { $0 })
            let causes = events.compactMap { $0["causationId"]?.stringValue }
            #expect(Set(causes).count == causes.count, "no command wrote twice")
            eventCount += events.count
        }
        for (id, entity) in ids {
            let causes = try await survivor.events(of: entity).filter { $0["causationId"]?.stringValue == id }
            #expect(causes.count == 1, "\(id) wrote exactly one event")
        }
        var feed: [JSONValue] = []
        while true {
            let after = feed.last?["position"]?.intValue ?? 0
            let page = try await survivor.get("/events?afterPosition=\(after)&limit=10000").json["events"]?.arrayValue ?? []
            if page.isEmpty { break }
            feed += page
        }
        #expect(feed.compactMap { $0["position"]?.intValue } == Array(1...Int64(feed.count)), "the feed is gapless")
        #expect(feed.count == eventCount)
        // The Kafka relay resumed on a survivor: the topic holds every event.
        try await eventually(timeout: .seconds(60), "the outbox is published after the failover") {
            // Asked of the instance the relay runs on now.
            for (i, s) in servers.enumerated() where i != victimIndex {
                let k = try await s.get("/kafka").json
                if k["runsHere"] == true { return k["lag"] == 0 && k["inFlight"] == 0 }
            }
            return false
        }
        let records = try await consumeTopic(broker: broker, server: survivor, count: feed.count)
        let published = Set(records.compactMap { $0["headers"]?["ce_id"]?.stringValue })
        #expect(published == Set(feed.compactMap { $0["id"]?.stringValue }), "every event on kf-evento-events")
        for (i, s) in servers.enumerated() where i != victimIndex { await s.stop() }
    }

    /// A container function in a cluster: every instance runs its own replicas (as it runs its own process
    /// workers); a registration or a removal on one instance reaches the others.
    @Test func aContainerFunctionRunsReplicasOnEveryInstanceAndGoesAwayEverywhere() async throws {
        let run = String(Identifiers.uuidV7().suffix(8)).lowercased()
        let image = "localhost/evento-fn-savings-cluster:\(run)"
        let build = try await runProgram(
            [Binaries.evento, "function", "build", Fixtures.root + "/functions/savings", "--tag", image], timeout: .seconds(600))
        #expect(build.status == 0, "build failed: \(build.err) \(build.out)")
        defer { Task.detached { _ = try? await ContainerTests.engineRun(["rmi", "-f", image]) } }
        let servers = try await Self.cluster(2)
        let handler = "savings-h-\(run)"
        let aggregator = "savings-a-\(run)"
        for (name, kind) in [(handler, "handler"), (aggregator, "aggregator")] {
            let r = try await servers[0].post(
                "/functions",
                #"{"name":"\#(name)","kind":"\#(kind)","aggregate":"savings","transport":{"container":{"image":"\#(image)","replicas":1,"memory":"128m"}}}"#)
            #expect(r.status == 201, "\(r.text)")
        }
        // The second instance starts its own replica of each.
        try await eventually(timeout: .seconds(60), "a healthy replica of each function on each instance") {
            for s in servers {
                for name in [handler, aggregator] {
                    let replicas = try await ContainerTests.replicas(s, name)
                    if replicas.count != 1 || replicas[0]["healthy"] != true { return false }
                }
            }
            let handlers = try await ContainerTests.containers(of: handler).count
            let aggregators = try await ContainerTests.containers(of: aggregator).count
            return handlers == 2 && aggregators == 2
        }
        // Commands through either instance run on whichever holds the entity's partition.
        for (i, (type, payload)) in [("OpenAccount", #"{"owner":"ann"}"#), ("DepositCash", #"{"amount":100}"#), ("WithdrawCash", #"{"amount":30}"#)].enumerated() {
            let r = try await servers[i % 2].post("/commands?wait=true", #"{"entity":"savings:c\#(run)","type":"\#(type)","payload":\#(payload)}"#)
            #expect(r.json["command"]?["status"] == "succeeded", "\(type): \(r.text)")
        }
        for s in servers {
            let state = try await s.get("/aggregates/savings:c\(run)").json
            #expect(state["state"]?["balance"] == 70, "\(state)")
        }
        // Removed on one instance: gone from every instance, containers included.
        for name in [handler, aggregator] { #expect(try await servers[1].request("DELETE", "/functions/\(name)").status == 204) }
        try await eventually(timeout: .seconds(60), "no container of the function left on any instance") {
            let left = try await ContainerTests.containers(of: handler) + ContainerTests.containers(of: aggregator)
            let listed = try await servers[0].get("/functions").json["functions"]?.arrayValue?.count ?? -1
            return left.isEmpty && listed == 0
        }
        for s in servers { await s.stop() }
    }

    @Test func projectorsAndDurableTimersRunOnceInACluster() async throws {
        let servers = try await Self.cluster(2)
        try await Self.registerChecking(on: servers)
        let balances = Fixtures.python("balances", kind: "projector", events: ["checking.*"], script: Fixtures.function("balances.py"))
        #expect(try await servers[1].register(balances).status == 201)
        // Accounts opened through either instance; deposits, half of them on a timer, through the other.
        for i in 0..<8 {
            let r = try await servers[i % 2].send("checking:c\(i)", "OpenAccount", ["owner": "C"])
            #expect(r.json["command"]?["status"] == "succeeded", "\(r.text)")
        }
        for i in 0..<8 {
            for k in 0..<3 {
                var body: JSONObject = ["id": .string("dep-\(i)-\(k)"), "entity": .string("checking:c\(i)"), "type": "DepositCash", "payload": ["amount": 10]]
                if k == 1 { body["delayMs"] = 800 }
                let r = try await servers[(i + 1) % 2].post("/commands", json: .object(body))
                #expect(r.status == 202, "\(r.text)")
                if k == 1 { #expect(r.json["status"] == "scheduled", "\(r.text)") }
            }
        }
        let relays = try await servers[0].get("/cluster").json["relays"]?.arrayValue ?? []
        #expect(relays.contains { $0["name"] == "projectors" }, "\(relays)")
        // Every deposit ran exactly once (the timers too), and the view on either instance says so.
        for i in 0..<8 {
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                let state = try await servers[i % 2].get("/aggregates/checking:c\(i)").json
                let view = try await servers[(i + 1) % 2].get("/views/balances/checking:c\(i)").json
                if state["state"]?["balance"] == 30 && view["doc"]?["balance"] == 30 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let state = try await servers[i % 2].get("/aggregates/checking:c\(i)").json
            let view = try await servers[(i + 1) % 2].get("/views/balances/checking:c\(i)").json
            if state["state"]?["balance"] != 30 || view["doc"]?["balance"] != 30 {
                let commands = try await (0..<3).asyncMap { k in try await servers[0].get("/commands/dep-\(i)-\(k)").text }
                let projector = try await servers[0].get("/projectors/balances").text
                Issue.record("checking:c\(i) within 30 s: \(state.jsonText) | view \(view.jsonText) | \(commands) | \(projector)")
            }
            let events = try await servers[0].events(of: "checking:c\(i)")
            #expect(events.count == 4, "\(events.map { $0["type"] ?? .null })")
        }
        for s in servers { await s.stop() }
    }

    @Test func anInstanceThatLeavesHandsItsPartitionsOverAtOnce() async throws {
        // Leases of 30 s: only a hand-over (not an expiry) moves them within the bound below.
        let servers = try await Self.cluster(2, leaseTTLMs: 30_000)
        let leaving = try #require(try await servers[1].get("/cluster").json["self"]?.stringValue)
        let start = ContinuousClock.now
        #expect(await servers[1].stop())
        // Well within the lease time-to-live (2 s): handed over, not expired.
        try await eventually(timeout: .seconds(10), "the remaining instance holds every partition") {
            let c = try await servers[0].get("/cluster").json
            let instances = c["instances"]?.arrayValue ?? []
            return instances.count == 1 && instances[0]["partitions"]?.arrayValue?.count == 16 && instances[0]["id"]?.stringValue != leaving
        }
        let handOver = ContinuousClock.now - start
        #expect(handOver < .seconds(5), "hand-over took \(handOver)")
        await servers[0].stop()
    }
}

/// A value shared by a test's tasks.
final class Shared<Value: Sendable>: Sendable {
    private let m: Mutex<Value>
    init(_ value: Value) { m = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { m.withLock { body(&$0) } }
}

extension Range where Bound == Int {
    func asyncMap<T>(_ f: (Int) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for i in self { out.append(try await f(i)) }
        return out
    }
}
