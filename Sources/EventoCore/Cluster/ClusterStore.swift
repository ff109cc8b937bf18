/// An instance of a cluster, as the database last heard of it.
public struct ClusterInstance: Sendable, Hashable {
    public var id: String
    /// The URL other instances and clients reach it at.
    public var address: String
    public var startedAt: Timestamp
    public var lastSeen: Timestamp

    public init(id: String, address: String, startedAt: Timestamp, lastSeen: Timestamp) {
        self.id = id
        self.address = address
        self.startedAt = startedAt
        self.lastSeen = lastSeen
    }
}

/// A lease: who holds it (nil: free), its fencing token (raised on every change of holder) and until when.
public struct LeaseRecord: Sendable, Hashable {
    public var name: String
    public var owner: String?
    public var token: Int64
    public var expiresAt: Timestamp

    public init(name: String, owner: String?, token: Int64, expiresAt: Timestamp) {
        self.name = name
        self.owner = owner
        self.token = token
        self.expiresAt = expiresAt
    }
}

/// What other instances tell this one through the store.
public enum ClusterNotification: Sendable, Hashable {
    /// Commands were logged for these partitions.
    case commands(partitions: [Int])
    /// These commands reached a final status.
    case finished(commandIds: [String])
    /// Events committed up to this position.
    case events(head: Int64)
    /// Functions were registered, replaced or removed: start or stop them here too.
    case functionsChanged
    /// Schemas were registered or their settings changed: reload them.
    case schemasChanged
    /// The notification stream was (re)connected: anything may have been missed meanwhile.
    case resumed
}

/// What a cluster keeps in its shared store: the instances, the leases (partitions and relays) and the
/// pending commands of each partition. Lease times are the database's clock, never an instance's.
public protocol ClusterStore: Sendable {
    /// The fixed number of partitions (chosen when the store was created).
    var partitionCount: Int { get }
    /// Records that `instance` is alive; returns the live instances (seen within `ttl`), by id.
    func heartbeat(instance: String, address: String, ttl: Duration) async throws -> [ClusterInstance]
    /// Every lease.
    func leases() async throws -> [LeaseRecord]
    /// Extends every lease `owner` holds by `ttl`; returns them (name → token). A lease missing from the
    /// answer was lost.
    func renewLeases(owner: String, ttl: Duration) async throws -> [String: Int64]
    /// Takes those of `names` that are free or expired (raising their tokens); returns the ones taken.
    func acquireLeases(_ names: [String], owner: String, ttl: Duration) async throws -> [String: Int64]
    /// Gives leases up at once (graceful hand-over); their next holder need not wait for expiry.
    func releaseLeases(_ names: [String], owner: String) async throws
    /// Forgets an instance that leaves.
    func removeInstance(_ id: String) async throws
    /// Pending commands of these partitions, in acceptance order (adopting partitions).
    func pendingCommands(partitions: [Int], afterSeq: Int64, limit: Int) async throws -> [(seq: Int64, record: CommandRecord)]
    /// Pending commands of these partitions logged by transactions that had not finished at `horizon`
    /// (0: all), in acceptance order after `afterSeq`, and the horizon for the next scan: no command is
    /// missed between scans, whatever order concurrent transactions commit in.
    func newPendingCommands(partitions: [Int], horizon: Int64, afterSeq: Int64, limit: Int) async throws
        -> (commands: [(seq: Int64, record: CommandRecord)], horizon: Int64)
    /// Runs `body` while no other instance runs its own `exclusively` body (start-up registrations of
    /// schemas and functions, which would otherwise race).
    func exclusively(_ body: @Sendable () async throws -> Void) async throws
    /// Notifications from every instance (this one included), until the task is cancelled.
    func notifications() -> AsyncStream<ClusterNotification>
}
