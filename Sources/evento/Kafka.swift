import ArgumentParser
import EventoCore
import EventoKafka
import Foundation

struct Kafka: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Kafka: republish history, or watch the topic.",
        subcommands: [Republish.self, Tail.self]
    )

    struct Republish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Have a running server publish its events again from a position on (at-least-once: consumers dedupe by ce_id).")
        @OptionGroup var server: ServerOptions
        @Option(name: .customLong("from-position"), help: "The first position to publish again.") var fromPosition: Int64 = 1

        func run() async throws {
            let r = try await APIClient(baseURL: server.baseURL).post("/kafka/republish", body: Array(#"{"fromPosition":\#(fromPosition)}"#.utf8))
            output(r.jsonText)
        }
    }

    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the records of the topic as JSON lines (key, partition, offset, headers; JSON values as JSON, others as base64).")
        @Option(name: .customLong("kafka-brokers"), help: "HOST:PORT (default: $EVENTO_KAFKA_BROKERS).") var brokers: String?
        @Option(help: "Topic.") var topic = "kf-evento-events"
        @Option(help: "Consumer group (offsets are committed as records are printed).") var group = "evento-tail-\(Identifiers.uuidV7().prefix(8))"
        @Option(help: "Stop after this many records.") var limit: Int?

        func run() async throws {
            guard let brokers = brokers ?? Environment.get("EVENTO_KAFKA_BROKERS") else { throw ValidationError("give --kafka-brokers") }
            let consumer = try KafkaConsumer(configuration: KafkaConfiguration(brokers: brokers), groupId: group, topics: [topic])
            var printed = 0
            while limit.map({ printed < $0 }) ?? true {
                guard let r = try await consumer.poll(timeout: .seconds(1)) else { continue }
                var o: JSONObject = [
                    "key": .string(String(decoding: r.key, as: UTF8.self)), "partition": .int(Int64(r.partition)), "offset": .int(r.offset),
                    "headers": .object(JSONObject(r.headers.map { .init(key: $0.name, value: .string(String(decoding: $0.value, as: UTF8.self))) })),
                ]
                if r.header("content-type") == "application/json", let v = try? JSONParser.parse(r.value) {
                    o["value"] = v
                } else {
                    o["valueBase64"] = .string(Data(r.value).base64EncodedString())
                }
                output(JSONValue.object(o).jsonText)
                try await consumer.commit(r)
                printed += 1
            }
            await consumer.close()
        }
    }
}
