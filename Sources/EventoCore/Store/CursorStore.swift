/// Named positions in the global feed: how far each relay (a dispatcher, the Kafka outbox) has gone.
public protocol CursorStore: Sendable {
    func cursor(_ name: String) async throws -> Int64?
    func setCursor(_ name: String, to position: Int64) async throws
    func removeCursor(_ name: String) async throws
}
