import CoreMetrics
import DequeModule
import EventoAvro
import EventoCore
import Logging
import Synchronization

/// Publishes every committed event to Kafka, in position order, from the transactional outbox.
///
/// The event log is the outbox: the relay's cursor (`relay_cursors`, name "kafka") is the last position
/// whose delivery — and that of every position before it — the broker acknowledged. Events after the
/// cursor are produced in order (key = entity id, so per-entity order holds on its partition); the
/// cursor advances as deliveries come back. After a crash, a broker outage or a delivery failure the
/// relay resends from the cursor: at-least-once, and a consumer can drop duplicates by `ce_id`.
public final class KafkaRelay: Sendable {
    public enum Format: String, Sendable { case avro, json }

    public struct Configuration: Sendable {
        public var kafka: KafkaConfiguration
        public var topic = "kf-evento-events"
        /// Partitions of the topic when Evento creates it.
        public var partitions = 4
        public var replicationFactor = -1
        public var format: Format = .avro
        /// Produced but not yet acknowledged, at most.
        public var maxInFlight = 20_000
        public init(kafka: KafkaConfiguration) { self.kafka = kafka }
    }

    public static let cursorName = "kafka"

    public struct Status: Sendable {
        public var cursor: Int64
        public var inFlight: Int
        public var published: Int
        public var resent: Int
        public var deliveryErrors: Int
        public var lastError: String?
        public var connected: Bool
    }

    private struct State {
        var inFlight = Deque<Int64>()
        var delivered: Set<Int64> = []
        var watermark: Int64 = 0
        var failure: KafkaError?
        var status = Status(cursor: 0, inFlight: 0, published: 0, resent: 0, deliveryErrors: 0, lastError: nil, connected: false)
        var rewindTo: Int64?
        /// The highest position ever sent: anything at or below it sent again counts as a resend.
        var highestSent: Int64 = 0
        /// Publish spans of records in flight (when traced), ended by their delivery report.
        var spans: [Int64: Span] = [:]
    }

    public typealias Store = EventLog & CursorStore

    let store: any Store
    let schemas: SchemaRegistry
    public let configuration: Configuration
    let logger: Logger
    private let state = Mutex(State())
    /// Ticks on every delivery report and failure: what the loop waits on while messages are in flight.
    private let ticks = CommitSignal()

    private func tick() { ticks.advance(to: ticks.head + 1) }

    public init(store: any Store, schemas: SchemaRegistry, configuration: Configuration, logger: Logger) {
        self.store = store
        self.schemas = schemas
        self.configuration = configuration
        self.logger = logger
    }

    public var status: Status {
        state.withLock { s in
            var st = s.status
            st.inFlight = s.inFlight.count
            return st
        }
    }

    /// Re-publishes history from `position` on (`evento kafka republish --from-position N`).
    public func republish(from position: Int64) {
        state.withLock { $0.rewindTo = max(0, position - 1) }
        tick()
    }

    public func run() async throws {
        var backoff = Duration.milliseconds(200)
        while !Task.isCancelled {
            do {
                try await session()
                return
            } catch is CancellationError {
                return
            } catch {
                let message = "\(error)"
                state.withLock { s in
                    s.status.lastError = message
                    s.status.connected = false
                }
                logger.warning("Kafka relay restarting from its cursor: \(message)")
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    /// One producer's life: ensure the topic, then publish until cancelled or until something fails.
    private func session() async throws {
        let cursor = try await store.cursor(Self.cursorName) ?? 0
        let abandoned = state.withLock { s in
            defer { s.spans.removeAll() }
            return Array(s.spans.values)
        }
        // Records of the last session that got no delivery report: sent again by this one.
        for var span in abandoned {
            span.fail("no delivery report: the producer session ended; the record is sent again")
            span.end()
        }
        state.withLock { s in
            s.inFlight.removeAll()
            s.delivered.removeAll()
            s.watermark = cursor
            s.failure = nil
            s.status.cursor = cursor
        }
        let producer = try KafkaProducer(
            configuration: configuration.kafka,
            onDelivery: { [weak self] token, result in self?.delivered(Int64(token), result) },
            onError: { [weak self] error in self?.clientError(error) })
        defer {
            producer.purge()
            producer.close()
        }
        try await producer.createTopic(configuration.topic, partitions: configuration.partitions, replicationFactor: configuration.replicationFactor)
        state.withLock { $0.status.connected = true }
        logger.info("publishing to Kafka", metadata: ["topic": "\(configuration.topic)", "from": "\(cursor)", "librdkafka": "\(librdkafkaVersion)"])
        var sent = cursor
        var saved = cursor
        var lastSave = ContinuousClock.now
        while !Task.isCancelled {
            let seen = ticks.head
            let (failure, rewind, watermark, inFlight) = state.withLock { s in (s.failure, s.rewindTo, s.watermark, s.inFlight.count) }
            if let failure { throw failure }
            if let rewind {
                state.withLock { $0.rewindTo = nil }
                try await store.setCursor(Self.cursorName, to: rewind)
                throw KafkaError(configuration: "republishing from position \(rewind + 1)")
            }
            if watermark > saved && (ContinuousClock.now - lastSave > .milliseconds(200) || inFlight == 0) {
                try await store.setCursor(Self.cursorName, to: watermark)
                saved = watermark
                lastSave = .now
                state.withLock { $0.status.cursor = watermark }
            }
            EventoMetrics.kafkaInFlight.record(inFlight)
            EventoMetrics.kafkaLag.record(max(0, store.commits.head - watermark))
            let room = configuration.maxInFlight - inFlight
            let page = room > 0 ? try await store.events(afterPosition: sent, limit: min(1000, room)) : []
            for e in page {
                // Traced: the record's traceparent is the publish span's, so that consumers' spans go under it.
                var span = EventoTracing.start("publish \(configuration.topic)", kind: .producer, parent: e.traceparent)
                var outgoing = e
                if let s = span {
                    span?.set("messaging.system", "kafka")
                    span?.set("messaging.destination.name", configuration.topic)
                    span?.set("messaging.operation.type", "send")
                    span?.set("messaging.message.id", e.id)
                    span?.set("messaging.kafka.message.key", e.entity.rawValue)
                    span?.set("evento.position", Int(e.position))
                    outgoing.traceparent = s.traceparent
                }
                let message = try makeMessage(outgoing)
                while true {
                    do {
                        state.withLock { s in
                            s.inFlight.append(e.position)
                            if e.position <= s.highestSent {
                                s.status.resent += 1
                                EventoMetrics.kafkaResent.increment()
                            }
                            s.highestSent = max(s.highestSent, e.position)
                            if let span { s.spans[e.position] = span }
                        }
                        try producer.produce(message)
                        break
                    } catch where error.isQueueFull {
                        state.withLock { _ = $0.inFlight.popLast() }
                        _ = await ticks.wait(after: ticks.head, timeout: .milliseconds(20))
                    } catch {
                        state.withLock { _ = $0.inFlight.popLast() }
                        throw error
                    }
                }
                sent = e.position
            }
            if page.isEmpty {
                if inFlight > 0 {
                    _ = await ticks.wait(after: seen, timeout: .milliseconds(100))
                } else {
                    _ = await store.commits.wait(after: sent, timeout: .seconds(1))
                }
            }
        }
        // Shutting down: give what is in flight a moment, and keep the cursor of what made it.
        await producer.flush(timeout: .seconds(5))
        let watermark = state.withLock { $0.watermark }
        if watermark > saved { try? await store.setCursor(Self.cursorName, to: watermark) }
        throw CancellationError()
    }

    private func delivered(_ position: Int64, _ result: Result<KafkaDelivery, KafkaError>) {
        let (moved, span): (Bool, Span?) = state.withLock { s in
            let span = s.spans.removeValue(forKey: position)
            switch result {
            case .success:
                s.delivered.insert(position)
                s.status.published += 1
                EventoMetrics.kafkaPublished.increment()
                var moved = false
                while let first = s.inFlight.first, s.delivered.remove(first) != nil {
                    s.inFlight.removeFirst()
                    s.watermark = first
                    moved = true
                }
                return (moved, span)
            case .failure(let error):
                s.status.deliveryErrors += 1
                EventoMetrics.kafkaDeliveryErrors.increment()
                s.status.lastError = error.description
                if s.failure == nil { s.failure = error }
                return (true, span)
            }
        }
        if var span {
            if case .failure(let error) = result { span.fail(error.description) }
            span.end()
        }
        if moved { tick() }
    }

    private func clientError(_ error: KafkaError) {
        state.withLock { s in
            s.status.lastError = error.description
            if error.isFatal && s.failure == nil { s.failure = error }
        }
        if error.isFatal { tick() }
        logger.notice("Kafka: \(error)")
    }

    /// The CloudEvents Kafka binding, binary mode.
    func makeMessage(_ e: EventEnvelope) throws -> KafkaMessage {
        var headers: [(String, [UInt8])] = [
            ("ce_specversion", Array("1.0".utf8)),
            ("ce_id", Array(e.id.utf8)),
            ("ce_source", Array("/evento/\(e.entity.aggregate)".utf8)),
            ("ce_type", Array("\(e.entity.aggregate).\(e.type)".utf8)),
            ("ce_subject", Array(e.entity.rawValue.utf8)),
            ("ce_time", Array(e.time.description.utf8)),
            ("ce_sequence", Array(String(e.sequence).utf8)),
            ("ce_position", Array(String(e.position).utf8)),
            ("ce_causationkind", Array(e.causationKind.rawValue.utf8)),
            ("ce_correlationid", Array(e.correlationId.utf8)),
        ]
        if let c = e.causationId { headers.append(("ce_causationid", Array(c.utf8))) }
        if let t = e.traceparent { headers.append(("traceparent", Array(t.utf8))) }
        let value: [UInt8]
        if configuration.format == .avro, let schemaId = e.schemaId {
            value = try schemas.wireFormat(schemaId: schemaId, payload: e.payload)
            headers.append(("content-type", Array("application/avro".utf8)))
            headers.append(("ce_dataschema", Array("/schemas/ids/\(schemaId)".utf8)))
        } else {
            value = Array(e.payload.text.utf8)
            headers.append(("content-type", Array("application/json".utf8)))
        }
        return KafkaMessage(topic: configuration.topic, key: Array(e.entity.rawValue.utf8), value: value, headers: headers, token: UInt64(e.position))
    }
}
