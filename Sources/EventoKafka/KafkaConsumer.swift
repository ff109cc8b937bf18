internal import CRdKafka
import EventoCore
import Synchronization

/// A consumed message.
public struct KafkaRecord: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]
    public var value: [UInt8]
    public var headers: [(name: String, value: [UInt8])]

    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }.map { String(decoding: $0.value, as: UTF8.self) }
    }
}

/// A consumer in a consumer group, with manual commits (`enable.auto.commit=false`): an offset is
/// committed only when the caller says the record is done. Blocking polls run on a thread of its own.
public final class KafkaConsumer: @unchecked Sendable {
    // @unchecked: the handle is thread-safe; every call that uses it runs on `thread`.
    private let handle: KafkaHandle
    private let thread: DedicatedThread
    private let closed = Atomic<Bool>(false)

    public static let defaults: [String: String] = [
        "enable.auto.commit": "false",
        "auto.offset.reset": "earliest",
        "enable.partition.eof": "false",
    ]

    public init(configuration: KafkaConfiguration, groupId: String, topics: [String]) throws(KafkaError) {
        var defaults = Self.defaults
        defaults["group.id"] = groupId
        let conf = try configuration.makeConf(defaults: defaults)
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(configuration: text(errstr))
        }
        rd_kafka_poll_set_consumer(rk)
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))
        for t in topics { rd_kafka_topic_partition_list_add(list, t, -1) }  // RD_KAFKA_PARTITION_UA
        let err = rd_kafka_subscribe(rk, list)
        rd_kafka_topic_partition_list_destroy(list)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            rd_kafka_destroy(rk)
            throw KafkaError(code: err)
        }
        handle = KafkaHandle(rk: rk)
        thread = DedicatedThread(name: "evento-kafka-consumer")
    }

    /// The next record, or nil when none arrives within `timeout`.
    public func poll(timeout: Duration) async throws -> KafkaRecord? {
        let handle = self.handle
        return try await thread.run {
            guard let m = rd_kafka_consumer_poll(handle.rk, Int32(timeout / .milliseconds(1))) else { return nil }
            defer { rd_kafka_message_destroy(m) }
            let msg = m.pointee
            if msg.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                if msg.err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return nil }
                throw KafkaError(code: msg.err, message: msg.payload.map { String(cString: $0.assumingMemoryBound(to: CChar.self)) })
            }
            var headers: [(String, [UInt8])] = []
            var hdrs: OpaquePointer?
            if rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs {
                var i = 0
                var name: UnsafePointer<CChar>?
                var value: UnsafeRawPointer?
                var size = 0
                while rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                    headers.append((name.map { String(cString: $0) } ?? "", Array(UnsafeRawBufferPointer(start: value, count: size))))
                    i += 1
                }
            }
            return KafkaRecord(
                topic: String(cString: rd_kafka_topic_name(msg.rkt)), partition: msg.partition, offset: msg.offset,
                key: Array(UnsafeRawBufferPointer(start: msg.key, count: msg.key_len)),
                value: Array(UnsafeRawBufferPointer(start: msg.payload, count: msg.len)), headers: headers)
        }
    }

    /// Commits the offset after `record` for its partition (synchronously).
    public func commit(_ record: KafkaRecord) async throws {
        let handle = self.handle
        try await thread.run {
            let list = rd_kafka_topic_partition_list_new(1)
            defer { rd_kafka_topic_partition_list_destroy(list) }
            let tp = rd_kafka_topic_partition_list_add(list, record.topic, record.partition)
            tp?.pointee.offset = record.offset + 1
            let err = rd_kafka_commit(handle.rk, list, 0)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: err) }
        }
    }

    /// Leaves the group (committing nothing more) and destroys the client.
    public func close() async {
        // Exactly one caller closes (two concurrent closes would destroy the handle twice).
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let handle = self.handle
        _ = try? await thread.run {
            rd_kafka_consumer_close(handle.rk)
            rd_kafka_destroy(handle.rk)
        }
        thread.stop()
    }
}
