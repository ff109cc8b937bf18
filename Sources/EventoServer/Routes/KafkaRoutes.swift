import EventoCore
import EventoKafka
import Hummingbird

/// `GET /kafka` (the relay's state) and `POST /kafka/republish` (resend history from a position).
struct KafkaRoutes<Context: RequestContext>: Sendable {
    let relay: KafkaRelay?
    let store: any EventoStorage
    let maxBodyBytes: Int

    func register(on router: Router<Context>) {
        router.get("/kafka") { _, _ in
            guard let relay else { throw EventoError(.unavailable, "Kafka is not configured (evento serve --kafka-brokers HOST:PORT)") }
            let st = relay.status
            let head = try await store.headPosition()
            return JSONResponse.object { o in
                o.field("topic", relay.configuration.topic)
                o.field("brokers", relay.configuration.kafka.brokers)
                o.field("format", relay.configuration.format.rawValue)
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
            guard let relay else { throw EventoError(.unavailable, "Kafka is not configured (evento serve --kafka-brokers HOST:PORT)") }
            var request = request
            var r = try FieldReader(try await request.jsonBody(limit: maxBodyBytes))
            let from = try r.int("fromPosition") ?? 1
            try r.rejectUnknownFields()
            guard from >= 1 else { throw EventoError.invalid("fromPosition", "expected a position ≥ 1, got \(from)") }
            relay.republish(from: from)
            return JSONResponse.object(.accepted) { o in o.field("fromPosition", from) }
        }
    }
}
