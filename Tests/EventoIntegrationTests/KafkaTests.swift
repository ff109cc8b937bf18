import EventoCore
import Foundation
import Testing

/// kf-evento-events on a real broker, read by a stock consumer nobody here wrote.
@Suite(.serialized) struct KafkaTests {
    static let headers = [
        "ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject", "ce_time", "ce_sequence", "ce_correlationid", "traceparent",
        "content-type",
    ]

    func waitForNoLag(_ server: ServerProcess, timeout: Duration = .seconds(120)) async throws {
        try await eventually(timeout: timeout, "the outbox is published") {
            let k = try await server.get("/kafka").json
            return k["lag"] == 0 && k["inFlight"] == 0
        }
    }

    @Test func theBanksEventsArriveWithEveryHeaderAndTheirKeyAndDecodeWithTheRegistry() async throws {
        let broker = try await TansuBroker()
        let server = try await ServerProcess(arguments: ["--kafka-brokers", broker.address], strictSchemas: true)
        for name in ["checking-handler", "checking-aggregator"] {
            let r = try await server.register([
                "name": .string(name), "kind": .string(name.hasSuffix("handler") ? "handler" : "aggregator"), "aggregate": "checking",
                "transport": ["process": ["command": [.string(Fixtures.checkingFunction)], "workers": 1]],
            ])
            #expect(r.status == 201, "\(r.text)")
        }
        #expect(try await server.send("checking:k1", "OpenAccount", ["owner": "Kim"]).json["command"]?["status"] == "succeeded")
        #expect(try await server.send("checking:k1", "DepositCash", ["amount": 50]).json["command"]?["status"] == "succeeded")
        #expect(try await server.send("checking:k1", "WithdrawCash", ["amount": 80]).json["command"]?["status"] == "succeeded")
        _ = try await server.post("/events", #"{"entity":"transfer:t1","type":"TransferRequested","payload":{"from":"checking:k1","to":"savings:k1","amount":5}}"#)
        try await waitForNoLag(server)
        let stored = try await server.get("/events").json["events"]?.arrayValue ?? []
        #expect(stored.count == 4)

        let records = try await consumeTopic(broker: broker, server: server, count: stored.count)
        #expect(records.count == stored.count)
        for e in stored {
            let id = try #require(e["id"]?.stringValue)
            let r = try #require(records.first { $0["headers"]?["ce_id"] == .string(id) }, "event \(id) is on the topic")
            #expect(r["key"] == e["entity"])
            for h in Self.headers { #expect(r["headers"]?[h] != nil, "header \(h)") }
            let h = try #require(r["headers"])
            #expect(h["ce_specversion"] == "1.0")
            #expect(h["ce_subject"] == e["entity"])
            #expect(h["ce_type"] == .string("\(e["entity"]!.stringValue!.split(separator: ":")[0]).\(e["type"]!.stringValue!)"))
            #expect(h["ce_time"] == e["time"])
            #expect(h["ce_sequence"] == .string(String(e["sequence"]?.intValue ?? 0)))
            #expect(h["ce_correlationid"] == e["correlationId"])
            #expect(h["traceparent"] == e["traceparent"])
            #expect(h["ce_causationid"] == e["causationId"].map { $0 })
            #expect(h["content-type"] == "application/avro")
            #expect(r["value"] == e["payload"], "AvroDeserializer decodes the value to the stored payload")
        }
    }

    @Test func perEntityOrderHoldsAcrossFourPartitions() async throws {
        let broker = try await TansuBroker()
        let server = try await ServerProcess(arguments: ["--kafka-brokers", broker.address, "--kafka-partitions", "4"], strictSchemas: true)
        var built: [String] = []
        for round in 0..<10 {
            var events: [JSONValue] = []
            for entity in 0..<20 {
                let type = round == 0 ? "AccountOpened" : "CashDeposited"
                let payload: JSONValue = round == 0 ? ["owner": .string("o\(entity)")] : ["amount": .int(Int64(round)), "balance": .int(Int64(round))]
                events.append(["entity": .string("checking:p\(entity)"), "type": .string(type), "payload": payload])
            }
            built.append(JSONValue.object(["events": .array(events)]).jsonText)
        }
        let batches = built
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Two writers, so batches interleave in the log.
            for half in 0..<2 {
                group.addTask {
                    for (i, b) in batches.enumerated() where i % 2 == half {
                        let r = try await server.post("/events", b)
                        #expect(r.status == 201)
                    }
                }
            }
            try await group.waitForAll()
        }
        try await waitForNoLag(server)
        let records = try await consumeTopic(broker: broker, server: server, count: 200)
        #expect(records.count == 200)
        var byKey: [String: [Int64]] = [:]
        var partitionsByKey: [String: Set<Int64>] = [:]
        for r in records {
            let key = r["key"]!.stringValue!
            byKey[key, default: []].append(Int64(r["headers"]?["ce_sequence"]?.stringValue ?? "") ?? -1)
            partitionsByKey[key, default: []].insert(r["partition"]?.intValue ?? -1)
        }
        #expect(byKey.count == 20)
        for (key, sequences) in byKey {
            #expect(sequences == Array(1...10), "\(key) in order")
            #expect(partitionsByKey[key]?.count == 1, "\(key) on one partition")
        }
        #expect(Set(partitionsByKey.values.flatMap { $0 }).count > 1, "keys spread over the partitions")
    }

    @Test func eventsAcceptedWhileTheBrokerIsDownArePublishedWhenItReturns() async throws {
        let broker = try await TansuBroker()
        let server = try await ServerProcess(arguments: ["--kafka-brokers", broker.address, "--kafka-config", "message.timeout.ms=15000"], strictSchemas: true)
        _ = try await server.post("/events", #"{"entity":"checking:before","type":"AccountOpened","payload":{"owner":"B"}}"#)
        try await waitForNoLag(server)
        await broker.stop()
        var ids: [String] = []
        for i in 0..<60 {
            let r = try await server.post("/events", json: ["entity": .string("checking:o\(i % 6)"), "type": i < 6 ? "AccountOpened" : "CashDeposited",
                                                              "payload": i < 6 ? ["owner": "x"] : ["amount": .int(Int64(i)), "balance": .int(Int64(i))]])
            #expect(r.status == 201, "events are accepted while the broker is down")
            ids.append(r.json["id"]?.stringValue ?? "")
        }
        #expect(try await server.get("/kafka").json["lag"]?.intValue ?? 0 > 0)
        try await broker.start()  // a fresh, empty broker on the same address
        try await waitForNoLag(server)
        let records = try await consumeTopic(broker: broker, server: server, count: 60)
        let seen = Set(records.compactMap { $0["headers"]?["ce_id"]?.stringValue })
        #expect(Set(ids).isSubset(of: seen), "none missing: \(Set(ids).subtracting(seen).count) missing")
        var byKey: [String: [Int64]] = [:]
        for r in records where ids.contains(r["headers"]?["ce_id"]?.stringValue ?? "") {
            byKey[r["key"]!.stringValue!, default: []].append(Int64(r["headers"]?["ce_sequence"]?.stringValue ?? "") ?? -1)
        }
        for (key, sequences) in byKey {
            #expect(sequences == sequences.sorted(), "\(key) in order")
            #expect(sequences.count == 10)
        }
    }

    @Test func everyCommittedEventIsOnTheTopicAfterTheServerIsKilledDuringABurst() async throws {
        let broker = try await TansuBroker()
        let server = try await ServerProcess(arguments: ["--kafka-brokers", broker.address], strictSchemas: true)
        let total = 10_000
        let batchSize = 100
        let acknowledged = AckCounter()
        let burst = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for b in stride(from: writer * batchSize, to: total, by: 4 * batchSize) {
                            let events: [JSONValue] = (b..<(b + batchSize)).map { i in
                                ["id": .string("burst-\(i)"), "entity": .string("checking:b\(i % 50)"), "type": "AccountOpened", "payload": ["owner": .string("o\(i)")]]
                            }
                            guard let r = try? await server.post("/events", json: ["events": .array(events)]), r.status == 201 else { return }
                            acknowledged.add(batchSize)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        try await eventually(timeout: .seconds(120), "a good part of the burst is acknowledged") { acknowledged.value >= 4000 }
        await server.kill()
        burst.cancel()
        _ = try? await burst.value
        let acked = acknowledged.value
        try await server.start()
        let head = try await server.get("/healthz").json["headPosition"]?.intValue ?? 0
        #expect(Int(head) >= acked, "every acknowledged event was committed")
        try await waitForNoLag(server)
        let committed = Set((try await allEventIds(server)))
        let records = try await consumeTopic(broker: broker, server: server, count: committed.count, timeout: 90)
        let counts = Dictionary(records.compactMap { $0["headers"]?["ce_id"]?.stringValue }.map { ($0, 1) }, uniquingKeysWith: +)
        let missing = committed.filter { counts[$0] == nil }
        let duplicates = counts.values.filter { $0 > 1 }.reduce(0) { $0 + $1 - 1 }
        print("kafka burst: acknowledged \(acked), committed \(committed.count), on the topic \(counts.count) distinct, \(records.count) records, duplicates \(duplicates)")
        #expect(missing.isEmpty, "\(missing.count) committed events are missing from the topic")
        #expect(counts.keys.allSatisfy { committed.contains($0) }, "nothing uncommitted was published")
    }

    func allEventIds(_ server: ServerProcess) async throws -> [String] {
        var ids: [String] = []
        var after: Int64 = 0
        while true {
            let page = try await server.get("/events?afterPosition=\(after)&limit=10000").json
            let events = page["events"]?.arrayValue ?? []
            if events.isEmpty { return ids }
            ids += events.compactMap { $0["id"]?.stringValue }
            after = page["lastPosition"]?.intValue ?? after
        }
    }
}

final class AckCounter: @unchecked Sendable {
    // @unchecked: guarded by the lock.
    private let lock = NSLock()
    private var count = 0
    func add(_ n: Int) {
        lock.lock()
        count += n
        lock.unlock()
    }
    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}
