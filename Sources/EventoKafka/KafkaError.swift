internal import CRdKafka

/// An error librdkafka reported, turned into Swift once, here.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    /// librdkafka's name for the code (`_MSG_TIMED_OUT`, `UNKNOWN_TOPIC_OR_PART`, …).
    public var name: String
    public var message: String
    /// The client instance cannot be used any more (an idempotent producer lost its sequence, say).
    public var isFatal: Bool

    public var description: String { "\(name): \(message)" }

    init(code: rd_kafka_resp_err_t, message: String? = nil, isFatal: Bool = false) {
        self.code = code.rawValue
        self.name = String(cString: rd_kafka_err2name(code))
        self.message = message ?? String(cString: rd_kafka_err2str(code))
        self.isFatal = isFatal
    }

    init(configuration message: String) {
        self.code = -1
        self.name = "CONFIGURATION"
        self.message = message
        self.isFatal = false
    }

    /// The local queue is full: poll (deliver) and try again.
    public var isQueueFull: Bool { code == RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue }
    public var isTopicAlreadyExisting: Bool { code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS.rawValue }
}
