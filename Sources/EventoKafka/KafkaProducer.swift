internal import CRdKafka
import EventoCore
import Foundation
import Synchronization

/// A message to produce.
public struct KafkaMessage: Sendable {
    public var topic: String
    public var key: [UInt8]
    public var value: [UInt8]
    public var headers: [(name: String, value: [UInt8])]
    /// Handed back with the message's delivery report.
    public var token: UInt64

    public init(topic: String, key: [UInt8], value: [UInt8], headers: [(name: String, value: [UInt8])], token: UInt64) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.token = token
    }
}

/// Where a message landed.
public struct KafkaDelivery: Sendable {
    public var partition: Int32
    public var offset: Int64
}

/// An idempotent producer (`enable.idempotence=true`, `acks=all`): per partition, messages land once and
/// in the order produced. Delivery reports and client errors are handed to the closures given at
/// creation, from a dedicated poll thread (never the cooperative pool).
public final class KafkaProducer: @unchecked Sendable {
    // @unchecked: the handle is thread-safe (librdkafka); `running` is atomic; the callbacks are Sendable.
    private let rk: OpaquePointer
    private let callbacks: Unmanaged<Callbacks>
    private let running = Atomic<Bool>(true)
    /// Serves delivery reports (see init).
    private let poller: OwnedThreads<Never>
    private let admin = DedicatedThread(name: "evento-kafka-admin")

    final class Callbacks: Sendable {
        let onDelivery: @Sendable (UInt64, Result<KafkaDelivery, KafkaError>) -> Void
        let onError: @Sendable (KafkaError) -> Void
        init(onDelivery: @escaping @Sendable (UInt64, Result<KafkaDelivery, KafkaError>) -> Void, onError: @escaping @Sendable (KafkaError) -> Void) {
            self.onDelivery = onDelivery
            self.onError = onError
        }
    }

    /// Evento's producer defaults; `configuration.properties` override them.
    public static let defaults: [String: String] = [
        "enable.idempotence": "true",
        "acks": "all",
        // Java clients hash keys with murmur2: the same entity lands on the same partition whoever produces it.
        "partitioner": "murmur2_random",
        "linger.ms": "5",
        "compression.type": "lz4",
        "message.timeout.ms": "60000",
        "queue.buffering.max.messages": "200000",
    ]

    public init(
        configuration: KafkaConfiguration, onDelivery: @escaping @Sendable (UInt64, Result<KafkaDelivery, KafkaError>) -> Void,
        onError: @escaping @Sendable (KafkaError) -> Void
    ) throws(KafkaError) {
        let conf = try configuration.makeConf(defaults: Self.defaults)
        let callbacks = Unmanaged.passRetained(Callbacks(onDelivery: onDelivery, onError: onError))
        rd_kafka_conf_set_opaque(conf, callbacks.toOpaque())
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
            guard let message, let opaque else { return }
            let cb = Unmanaged<Callbacks>.fromOpaque(opaque).takeUnretainedValue()
            let token = UInt64(UInt(bitPattern: evento_kafka_message_opaque(message)))
            let err = message.pointee.err
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                cb.onDelivery(token, .success(KafkaDelivery(partition: message.pointee.partition, offset: message.pointee.offset)))
            } else {
                cb.onDelivery(token, .failure(KafkaError(code: err)))
            }
        }
        rd_kafka_conf_set_error_cb(conf) { rk, code, reason, opaque in
            guard let opaque else { return }
            let cb = Unmanaged<Callbacks>.fromOpaque(opaque).takeUnretainedValue()
            var fatal = false
            var message = reason.map { String(cString: $0) } ?? ""
            if code == RD_KAFKA_RESP_ERR__FATAL.rawValue, let rk {
                var errstr = [CChar](repeating: 0, count: 512)
                let underlying = rd_kafka_fatal_error(rk, &errstr, errstr.count)
                fatal = true
                message = "\(String(cString: rd_kafka_err2name(underlying))): \(text(errstr))"
            }
            cb.onError(KafkaError(code: rd_kafka_resp_err_t(rawValue: code), message: message, isFatal: fatal))
        }
        var errstr = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            callbacks.release()
            throw KafkaError(configuration: text(errstr))
        }
        rk = handle
        self.callbacks = callbacks
        // Delivery reports are served by rd_kafka_poll, which blocks up to its timeout: on a thread of its
        // own, ticking (it has no jobs; it polls until stopped).
        let client = KafkaHandle(rk: handle)
        poller = OwnedThreads<Never>(name: "evento-kafka-poll", tick: .milliseconds(1)) { _, _ in rd_kafka_poll(client.rk, 100) }
    }

    /// Queues a message. Throws `KafkaError` (`isQueueFull`: wait for deliveries and try again).
    public func produce(_ m: KafkaMessage) throws(KafkaError) {
        let headers = rd_kafka_headers_new(m.headers.count)
        for h in m.headers {
            h.value.withUnsafeBytes { v in _ = rd_kafka_header_add(headers, h.name, -1, v.baseAddress, v.count) }
        }
        let err = m.key.withUnsafeBytes { k in
            m.value.withUnsafeBytes { v in
                evento_kafka_produce(rk, m.topic, k.baseAddress, k.count, v.baseAddress, v.count, headers, UnsafeMutableRawPointer(bitPattern: UInt(m.token)))
            }
        }
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            rd_kafka_headers_destroy(headers)
            throw KafkaError(code: err)
        }
    }

    /// Messages queued or in flight (not yet reported).
    public var outstanding: Int { Int(rd_kafka_outq_len(rk)) }

    /// Creates a topic; an existing one is left as it is.
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = -1, timeout: Duration = .seconds(15)) async throws {
        let handle = KafkaHandle(rk: rk)
        try await admin.run {
            let rk = handle.rk
            var errstr = [CChar](repeating: 0, count: 512)
            guard let topic = rd_kafka_NewTopic_new(name, Int32(partitions), Int32(replicationFactor), &errstr, errstr.count) else {
                throw KafkaError(configuration: text(errstr))
            }
            defer { rd_kafka_NewTopic_destroy(topic) }
            let queue = rd_kafka_queue_new(rk)
            defer { rd_kafka_queue_destroy(queue) }
            let ms = Int32(timeout / .milliseconds(1))
            let options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS)
            defer { rd_kafka_AdminOptions_destroy(options) }
            _ = rd_kafka_AdminOptions_set_request_timeout(options, ms, &errstr, errstr.count)
            _ = rd_kafka_AdminOptions_set_operation_timeout(options, ms, &errstr, errstr.count)
            var topics: [OpaquePointer?] = [topic]
            rd_kafka_CreateTopics(rk, &topics, 1, options, queue)
            guard let event = rd_kafka_queue_poll(queue, ms + 1000) else {
                throw KafkaError(code: RD_KAFKA_RESP_ERR__TIMED_OUT, message: "creating topic \(name) timed out")
            }
            defer { rd_kafka_event_destroy(event) }
            if rd_kafka_event_error(event) != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(code: rd_kafka_event_error(event), message: String(cString: rd_kafka_event_error_string(event)))
            }
            guard let result = rd_kafka_event_CreateTopics_result(event) else { return }
            var count = 0
            guard let results = rd_kafka_CreateTopics_result_topics(result, &count), count > 0, let first = results[0] else { return }
            let err = rd_kafka_topic_result_error(first)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
                let message = rd_kafka_topic_result_error_string(first).map { String(cString: $0) }
                throw KafkaError(code: err, message: message)
            }
        }
    }

    /// Waits up to `timeout` for every queued message to be delivered (or fail); returns how many are left.
    @discardableResult
    public func flush(timeout: Duration) async -> Int {
        let handle = KafkaHandle(rk: rk)
        return (try? await admin.run {
            rd_kafka_flush(handle.rk, Int32(timeout / .milliseconds(1)))
            return Int(rd_kafka_outq_len(handle.rk))
        }) ?? outstanding
    }

    /// Drops every message not yet delivered (their reports come back as purged); used before rebuilding
    /// the producer, when the relay resends from its cursor anyway.
    public func purge() {
        rd_kafka_purge(rk, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT | RD_KAFKA_PURGE_F_NON_BLOCKING))
    }

    /// Stops polling and destroys the client. Call `flush` first to deliver what is queued.
    public func close() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        poller.stop()
        admin.stop()
        rd_kafka_destroy(rk)
        callbacks.release()
    }

    deinit { close() }
}

/// A librdkafka client handle crossing to another thread. @unchecked Sendable: librdkafka's handles are
/// thread-safe.
struct KafkaHandle: @unchecked Sendable {
    let rk: OpaquePointer
}

/// The text of a NUL-terminated C buffer.
func text(_ buffer: [CChar]) -> String {
    buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}
