import EventoCore
import EventoKafka
import Hummingbird

/// `GET /kafka` (the relay's state) and `POST /kafka/republish` (resend history from a position).
struct KafkaRoutes<Context: RequestContext>: Sendable {
    let relay: KafkaRelay?
    let store: any EventoStorage
    let maxBodyBytes: Int
    /// In a cluster the relay runs on the instance that holds its lease; the others report the stored cursor.
    var cluster: ClusterCoordinator? = nil

    /// The relay's state as this instance knows it, and whether it runs here (nil: not a cluster). In a
    /// cluster, an instance the relay does not run on reports the stored cursor.
    static func status(of relay: KafkaRelay, cluster: ClusterCoordinator?, store: any EventoStorage) async throws -> (KafkaRelay.Status, Bool?) {
        var st = relay.status
        guard let cluster else { return (st, nil) }
        guard !cluster.holds(relay: KafkaService.lease) else { return (st, true) }
        st.cursor = try await store.cursor(KafkaRelay.cursorName) ?? 0
        st.connected = false
        return (st, false)
    }

    func register(on router: Router<Context>) {
        router.get("/kafka") { _, _ in
            // Not configured is an answer, not an outage: events wait in the outbox for a relay to start.
            guard let relay else {
                let head = try await store.headPosition()
                return JSONResponse.object { o in
                    o.field("configured", false)
                    o.field("headPosition", head)
                    o.field("hint", "events wait in the outbox; start with evento serve --kafka-brokers HOST:PORT to publish them to Kafka")
                }
            }
            let (st, runsHere) = try await Self.status(of: relay, cluster: cluster, store: store)
            let head = try await store.headPosition()
            let holder = runsHere == false ? try await cluster?.relayHolder(KafkaService.lease) : nil
            return JSONResponse.object { o in
                o.field("configured", true)
                o.field("topic", relay.configuration.topic)
                o.field("brokers", relay.configuration.kafka.brokers)
                o.field("format", relay.configuration.format.rawValue)
                if let runsHere {
                    o.field("runsHere", runsHere)
                    if let holder {
                        o.field("runsOn", holder.id)
                        o.field("runsOnAddress", holder.address)
                    }
                }
                o.field("connected", st.connected)
                o.field("cursor", st.cursor)
                o.field("headPosition", head)
                o.field("lag", head - st.cursor)
                o.field("inFlight", st.inFlight)
                o.field("published", st.published)
                o.field("resent", st.resent)
                o.field("deliveryErrors", st.deliveryErrors)
                o.field("lastError", st.lastError)
                o.field("librdkafka", librdkafkaVersion)
            }
        }
        router.post("/kafka/republish") { request, _ in
            guard let relay else { throw EventoError(.conflict, "Kafka is not configured on this server (evento serve --kafka-brokers HOST:PORT): there is nothing to republish to") }
            var request = request
            var r = try FieldReader(try await request.jsonBody(limit: maxBodyBytes))
            let from = try r.int("fromPosition") ?? 1
            try r.rejectUnknownFields()
            guard from >= 1 else { throw EventoError.invalid("fromPosition", "expected a position ≥ 1, got \(from)") }
            if let cluster, !cluster.holds(relay: KafkaService.lease) {
                let holder = try await cluster.relayHolder(KafkaService.lease)
                throw EventoError(
                    .conflict,
                    "the Kafka relay runs on instance \(holder?.id ?? "none yet")\(holder?.address.map { " (\($0))" } ?? ""); send the request there")
            }
            relay.republish(from: from)
            return JSONResponse.object(.accepted) { o in o.field("fromPosition", from) }
        }
    }
}
