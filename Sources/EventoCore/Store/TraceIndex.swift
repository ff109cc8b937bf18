/// Finding items by id and by cause, over events and commands alike: what `/trace` walks.
public protocol TraceIndex: Sendable {
    /// An event or command by id.
    func traceItem(id: String) async throws -> TraceItem?
    /// Events and commands whose causation id is `id`: the events in position order, then the commands in
    /// log order, at most `limit` of each.
    func items(causedBy id: String, limit: Int) async throws -> [TraceItem]
}
