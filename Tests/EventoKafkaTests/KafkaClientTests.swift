import EventoCore
import EventoKafka
import Synchronization
import Testing

/// The librdkafka wrapper against librdkafka's own mock cluster.
@Suite struct KafkaClientTests {
    @Test func producedMessagesAreDeliveredAndConsumedWithKeysHeadersAndOrder() async throws {
        let mock = try KafkaMockCluster()
        try mock.createTopic("t", partitions: 3)
        let config = KafkaConfiguration(brokers: mock.bootstrapServers)
        let reports = Mutex<[UInt64: KafkaDelivery]>([:])
        let producer = try KafkaProducer(
            configuration: config,
            onDelivery: { token, result in
                if case .success(let d) = result { reports.withLock { $0[token] = d } }
            },
            onError: { _ in })
        for i in 0..<60 {
            let key = "entity:\(i % 5)"
            try producer.produce(
                KafkaMessage(topic: "t", key: Array(key.utf8), value: Array("v\(i)".utf8), headers: [("ce_sequence", Array(String(i / 5).utf8))], token: UInt64(i + 1)))
        }
        #expect(await producer.flush(timeout: .seconds(10)) == 0)
        let delivered = reports.withLock { $0 }
        #expect(delivered.count == 60)
        // One key, one partition.
        for k in 0..<5 {
            let partitions = Set((0..<60).filter { $0 % 5 == k }.compactMap { delivered[UInt64($0 + 1)]?.partition })
            #expect(partitions.count == 1)
        }
        producer.close()

        let consumer = try KafkaConsumer(configuration: config, groupId: "g1", topics: ["t"])
        var seen: [String: [Int]] = [:]
        var count = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while count < 60 && ContinuousClock.now < deadline {
            guard let r = try await consumer.poll(timeout: .milliseconds(200)) else { continue }
            let key = String(decoding: r.key, as: UTF8.self)
            seen[key, default: []].append(Int(r.header("ce_sequence") ?? "") ?? -1)
            try await consumer.commit(r)
            count += 1
        }
        await consumer.close()
        #expect(count == 60)
        for (_, sequences) in seen { #expect(sequences == Array(0..<12), "per-key order") }
    }

    @Test func aBadPropertyIsAConfigurationError() {
        var config = KafkaConfiguration(brokers: "127.0.0.1:1")
        config.properties["no.such.property"] = "1"
        #expect(throws: KafkaError.self) { try KafkaProducer(configuration: config, onDelivery: { _, _ in }, onError: { _ in }) }
        do {
            _ = try KafkaProducer(configuration: config, onDelivery: { _, _ in }, onError: { _ in })
        } catch {
            #expect(error.message.contains("No such configuration property"))
        }
    }
}
