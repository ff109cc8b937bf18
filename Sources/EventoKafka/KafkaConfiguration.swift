internal import CRdKafka

/// Kafka client settings. Converted to librdkafka properties only here.
public struct KafkaConfiguration: Sendable {
    /// `host:port[,host:port…]`.
    public var brokers: String
    public var clientId = "evento"
    /// Any librdkafka property, passed through (`security.protocol`, `sasl.mechanisms`, …); wins over
    /// Evento's defaults.
    public var properties: [String: String] = [:]

    public init(brokers: String) { self.brokers = brokers }

    func makeConf(defaults: [String: String]) throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        var all = defaults
        all["bootstrap.servers"] = brokers
        all["client.id"] = clientId
        for (k, v) in properties { all[k] = v }
        var errstr = [CChar](repeating: 0, count: 512)
        for (k, v) in all.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, k, v, &errstr, errstr.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw KafkaError(configuration: "\(k)=\(v): \(text(errstr))")
            }
        }
        return conf
    }
}

/// The librdkafka version in use (it is loaded at run time, so it may differ from the headers').
public var librdkafkaVersion: String { String(cString: rd_kafka_version_str()) }
