/// Listings the web console needs and the pipeline does not: entity ids by prefix, and commands by status,
/// newest first. Each is paged by a cursor, so that no request reads a whole stream or log.
///
/// A separate protocol rather than methods on `EventLog` and `CommandLog`: a store that does not provide it
/// (every store here does) still serves the console, whose routes fall back to what every store has (an exact
/// entity id; pending and dead commands).
public protocol ConsoleQueries: Sendable {
    /// Entity ids that start with `prefix` and sort after `after` (nil: from the first), in byte order.
    func entityIds(prefix: String, after: String?, limit: Int) async throws -> [String]
    /// Commands in `filter`, newest first (by acceptance order), accepted before `beforeSeq` (nil: from
    /// the newest).
    func commands(_ filter: CommandFilter, beforeSeq: Int64?, limit: Int) async throws -> [(seq: Int64, record: CommandRecord)]
}

/// Which commands a listing shows.
public enum CommandFilter: String, Sendable, CaseIterable {
    /// Pending: accepted and not finished (waiting for its first attempt, its time, or a retry).
    case pending
    /// Pending with a durable timer that is not due yet (`notBefore` in the future).
    case scheduled
    /// Pending after at least one failed attempt: a retry is due.
    case retrying
    case succeeded
    case failed
    case dead
}

extension CommandFilter {
    /// The filter as a condition on the `status`, `attempts` and `not_before` columns of the SQL stores'
    /// command tables, at `now`.
    public func sqlCondition(now: Timestamp = .now()) -> String {
        switch self {
        case .pending: "status = 'pending'"
        case .scheduled: "status = 'pending' AND not_before > \(now.millisecondsSinceEpoch)"
        case .retrying: "status = 'pending' AND attempts > 0"
        case .succeeded: "status = 'succeeded'"
        case .failed: "status = 'failed'"
        case .dead: "status = 'dead'"
        }
    }
}
