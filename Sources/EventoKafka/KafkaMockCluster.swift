internal import CRdKafka

/// librdkafka's in-process mock cluster: a Kafka protocol broker without a broker, for fast unit tests.
public final class KafkaMockCluster: @unchecked Sendable {
    // @unchecked: created and destroyed once; librdkafka's handles are thread-safe.
    private let rk: OpaquePointer
    private let cluster: OpaquePointer
    /// `host:port,…` to give clients.
    public let bootstrapServers: String

    public init(brokers: Int = 1) throws(KafkaError) {
        let conf = rd_kafka_conf_new()!
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            throw KafkaError(configuration: text(errstr))
        }
        guard let cluster = rd_kafka_mock_cluster_new(rk, Int32(brokers)) else {
            rd_kafka_destroy(rk)
            throw KafkaError(configuration: "cannot start the mock cluster")
        }
        self.rk = rk
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    /// Creates a topic directly in the mock.
    public func createTopic(_ name: String, partitions: Int) throws(KafkaError) {
        let err = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), 1)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(code: err) }
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(rk)
    }
}
