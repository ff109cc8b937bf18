/// Finding items by id and by cause, over events and commands alike: what `/trace` walks.
public protocol TraceIndex: Sendable {
    /// An event or command by id.
    func traceItem(id: String) async throws -> TraceItem?
    /// Events and commands whose causation id is `id`, in the order they were written.
    func items(causedBy id: String, limit: Int) async throws -> [TraceItem]
}
