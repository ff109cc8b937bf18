import CoreMetrics

/// The metrics Evento emits through swift-metrics (exposed in Prometheus format at `GET /metrics` when
/// the server bootstraps the Prometheus backend). Names follow Prometheus conventions.
public enum EventoMetrics {
    // Commands
    public static let commandsAccepted = Counter(label: "evento_commands_accepted_total")
    public static func commandsFinished(_ status: CommandStatus) -> Counter {
        switch status {
        case .succeeded: succeeded
        case .failed: failed
        case .dead: dead
        case .pending: retried
        }
    }
    private static let succeeded = Counter(label: "evento_commands_total", dimensions: [("status", "succeeded")])
    private static let failed = Counter(label: "evento_commands_total", dimensions: [("status", "failed")])
    private static let dead = Counter(label: "evento_commands_total", dimensions: [("status", "dead")])
    /// Failed attempts that will be retried.
    private static let retried = Counter(label: "evento_commands_total", dimensions: [("status", "retried")])
    public static let commandConflicts = Counter(label: "evento_command_conflicts_total")
    public static let commandBacklog = Gauge(label: "evento_command_backlog")
    /// Events sent to projectors (and committed with their view operations).
    public static let projectedEvents = Counter(label: "evento_projected_events_total")
    /// Times a projector was parked after its retries.
    public static let projectorsParked = Counter(label: "evento_projectors_parked_total")
    /// Requests refused with 429 because the command backlog was full.
    public static let requestsRefused = Counter(label: "evento_requests_refused_total")
    /// Commands held by a durable timer (`notBefore` in the future) on this instance.
    public static let commandsScheduled = Gauge(label: "evento_commands_scheduled")

    // Store
    /// Writes per group-commit transaction.
    public static let appendGroupSize = Recorder(label: "evento_store_group_size", aggregate: true)
    /// Time of one group-commit transaction, fsync included.
    public static let appendCommitDuration = Timer(label: "evento_store_commit_duration_seconds")
    public static let eventsAppended = Counter(label: "evento_events_appended_total")
    /// Times the SQLite writer copied the last WAL frames itself so that the WAL could start over, and how
    /// long that took between two group commits.
    public static let walRestarts = Counter(label: "evento_store_wal_restarts_total")
    /// The SQLite WAL's length (its frames, copied into the database or not), at the last checkpoint.
    public static let walBytes = Gauge(label: "evento_store_wal_bytes")
    public static let walRestartDuration = Timer(label: "evento_store_wal_restart_duration_seconds")

    // Snapshots
    /// Events the snapshot lagged behind when a handler needed the aggregate (then caught up).
    public static let snapshotLag = Recorder(label: "evento_snapshot_lag_events", aggregate: true)
    public static let snapshotCatchUps = Counter(label: "evento_snapshot_catchups_total")

    // Cluster (each instance reports its own)
    public static let clusterPartitionsOwned = Gauge(label: "evento_cluster_partitions_owned")
    public static let clusterInstances = Gauge(label: "evento_cluster_instances")
    public static let clusterRelaysHeld = Gauge(label: "evento_cluster_relays_held")
    public static let clusterLeasesLost = Counter(label: "evento_cluster_leases_lost_total")
    public static let clusterPartitionsTaken = Counter(label: "evento_cluster_partitions_taken_total")
    public static let clusterPartitionsHandedOver = Counter(label: "evento_cluster_partitions_handed_over_total")
    /// Commands logged here for a partition another instance runs.
    public static let clusterCommandsForwarded = Counter(label: "evento_cluster_commands_forwarded_total")
    /// Waited-for commands passed to the instance that runs their entity (over HTTP).
    public static let clusterCommandsRouted = Counter(label: "evento_cluster_commands_routed_total")

    // Outboxes
    public static let dispatchLag = Gauge(label: "evento_dispatch_lag_events")
    public static let kafkaLag = Gauge(label: "evento_outbox_lag_events", dimensions: [("relay", "kafka")])
    public static let kafkaInFlight = Gauge(label: "evento_outbox_in_flight", dimensions: [("relay", "kafka")])
    public static let kafkaPublished = Counter(label: "evento_kafka_published_total")
    public static let kafkaResent = Counter(label: "evento_kafka_resent_total")
    public static let kafkaDeliveryErrors = Counter(label: "evento_kafka_delivery_errors_total")

    /// Per-function call metrics, made once per registration.
    public struct FunctionCalls: Sendable {
        public let ok: Counter
        public let error: Counter
        public let timeout: Counter
        public let duration: Timer
        public let workerRestarts: Counter

        public init(function: String, transport: String) {
            let d = [("function", function), ("transport", transport)]
            ok = Counter(label: "evento_function_calls_total", dimensions: d + [("outcome", "ok")])
            error = Counter(label: "evento_function_calls_total", dimensions: d + [("outcome", "error")])
            timeout = Counter(label: "evento_function_calls_total", dimensions: d + [("outcome", "timeout")])
            duration = Timer(label: "evento_function_call_duration_seconds", dimensions: d)
            workerRestarts = Counter(label: "evento_function_worker_restarts_total", dimensions: [("function", function)])
        }
    }
}
