import CoreMetrics
import Logging
import Synchronization

/// One instance's part in a cluster: it says it is alive, holds leases on its share of the partitions
/// (and on the relays), runs the commands of its partitions, and answers waiters whatever instance ran
/// their commands.
///
/// Every `tick` it renews its leases, looks at the live instances, takes free or expired partitions up to
/// its fair share and gives up those beyond it (so that joining instances get theirs without waiting for
/// expiry), then takes any free relay lease. A partition it takes is adopted: its pending commands are
/// queued in acceptance order before any command submitted for it meanwhile. Lost leases (not renewed in
/// time) stop placing commands here at once; a commit still under way fails its fence.
public final class ClusterCoordinator: CommandPlacement, Sendable {
    public struct Configuration: Sendable {
        /// This instance's id (unique in the cluster).
        public var instanceId: String
        /// The URL other instances and clients reach this one at (shown by `GET /cluster`).
        public var address: String
        /// How long a lease lasts without renewal: an instance that dies loses its partitions after at most
        /// `leaseTTL` plus one `tick`.
        public var leaseTTL: Duration = .seconds(5)
        public var tick: Duration = .seconds(1)
        /// The relay leases this instance may hold (each relay runs on one instance at a time).
        public var relays: [String] = []

        public init(instanceId: String, address: String) {
            self.instanceId = instanceId
            self.address = address
        }
    }

    /// What the coordinator knows, for `GET /cluster`.
    public struct Status: Sendable {
        public var instanceId: String
        public var instances: [ClusterInstance]
        public var leases: [LeaseRecord]
        public var partitionCount: Int
        public var owned: [Int]
        public var relays: [String]
    }

    private struct State {
        var partitions: [Int: Fence] = [:]
        var relays: [String: Fence] = [:]
        var instances: [ClusterInstance] = []
        /// The command scan's transaction horizon (see `ClusterStore.newPendingCommands`).
        var horizon: Int64 = 0
        var scanRequested = false
        var stopping = false
    }

    public let configuration: Configuration
    let store: any ClusterStore
    let logger: Logger
    private let state = Mutex(State())
    /// Set once the processor exists (it needs this coordinator as its placement).
    private let processorBox = Mutex<CommandProcessor?>(nil)
    /// Wakes the loop early (a notification asked for a scan, or shutdown).
    private let wake = CommitSignal()

    public init(store: any ClusterStore, configuration: Configuration, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    public var instanceId: String { configuration.instanceId }

    // MARK: Placement

    public func partition(of entity: EntityId) -> Int? { Partitioning.partition(of: entity.rawValue, count: store.partitionCount) }

    public func placement(of entity: EntityId) -> Placement {
        let p = Partitioning.partition(of: entity.rawValue, count: store.partitionCount)
        if let fence = state.withLock({ $0.partitions[p] }) { return .owned(partition: p, fence: fence) }
        return .elsewhere(partition: p)
    }

    /// Whether this instance holds a relay's lease now.
    public func holds(relay name: String) -> Bool { state.withLock { $0.relays[name] != nil } }

    public func ownedPartitions() -> [Int] { state.withLock { $0.partitions.keys.sorted() } }

    // MARK: Running

    /// Runs until cancelled: the lease loop and the notification handler.
    public func run(processor: CommandProcessor) async {
        processorBox.withLock { $0 = processor }
        await withDiscardingTaskGroup { group in
            group.addTask { await self.handleNotifications(processor) }
            var nextTick = ContinuousClock.now
            var seen = wake.head
            while !Task.isCancelled && !state.withLock({ $0.stopping }) {
                if ContinuousClock.now >= nextTick {
                    nextTick = ContinuousClock.now + configuration.tick
                    do {
                        try await tick(processor)
                    } catch is CancellationError {
                        break
                    } catch {
                        // Leases must be renewed well within their time-to-live: try again soon.
                        logger.warning("cluster tick failed: \(error)")
                        nextTick = ContinuousClock.now + .milliseconds(200)
                    }
                }
                // Woken early by a notification that asks for a scan (its wake is never missed: `seen` is
                // taken before the scan reads).
                seen = await wake.wait(after: seen, timeout: max(.zero, nextTick - ContinuousClock.now))
                if state.withLock({ $0.scanRequested }) { await scan(processor) }
            }
            group.cancelAll()
        }
    }

    /// Gives every lease up (after the pipeline stopped: nothing runs here any more) and leaves the
    /// cluster, so that the others take the partitions at once instead of after expiry.
    public func leave() async {
        let (partitions, relays) = state.withLock { s -> ([Int], [String]) in
            s.stopping = true
            let out = (Array(s.partitions.keys), Array(s.relays.keys))
            s.partitions = [:]
            s.relays = [:]
            return out
        }
        wake.advance(to: wake.head + 1)
        do {
            try await store.releaseLeases(partitions.map(Partitioning.leaseName) + relays, owner: instanceId)
            try await store.removeInstance(instanceId)
            logger.info("left the cluster", metadata: ["partitions": "\(partitions.count)", "relays": "\(relays)"])
        } catch {
            logger.warning("could not hand the leases over (they expire by themselves): \(error)")
        }
    }

    /// Stops taking leases (before the pipeline drains).
    public func stopTaking() {
        state.withLock { $0.stopping = true }
        wake.advance(to: wake.head + 1)
    }

    func tick(_ processor: CommandProcessor) async throws {
        let ttl = configuration.leaseTTL
        let live = try await store.heartbeat(instance: instanceId, address: configuration.address, ttl: ttl)
        let held = try await store.renewLeases(owner: instanceId, ttl: ttl)
        let lost: [Int] = state.withLock { s in
            s.instances = live
            let lost = s.partitions.keys.filter { held[Partitioning.leaseName($0)] == nil }
            for p in lost { s.partitions[p] = nil }
            for name in s.relays.keys where held[name] == nil { s.relays[name] = nil }
            return lost
        }
        if !lost.isEmpty {
            EventoMetrics.clusterLeasesLost.increment(by: Int64(lost.count))
            logger.warning("lost partition leases", metadata: ["partitions": "\(lost.sorted())"])
        }
        EventoMetrics.clusterInstances.record(live.count)
        defer {
            let (owned, relays) = state.withLock { ($0.partitions.count, $0.relays.count) }
            EventoMetrics.clusterPartitionsOwned.record(owned)
            EventoMetrics.clusterRelaysHeld.record(relays)
        }
        guard !state.withLock({ $0.stopping }) else { return }

        // This instance's fair share: the partitions spread evenly over the live instances, in id order.
        let n = store.partitionCount
        let ids = live.map(\.id)
        let index = ids.firstIndex(of: instanceId) ?? ids.count
        let count = max(ids.count, 1)
        let target = n / count + (index < n % count ? 1 : 0)
        let owned = state.withLock { Array($0.partitions.keys) }
        if owned.count > target {
            // Hand the surplus over now (the highest first): a joining instance takes them on its next tick.
            let surplus = Array(owned.sorted().suffix(owned.count - target))
            state.withLock { s in for p in surplus { s.partitions[p] = nil } }
            try await store.releaseLeases(surplus.map(Partitioning.leaseName), owner: instanceId)
            EventoMetrics.clusterPartitionsHandedOver.increment(by: Int64(surplus.count))
            logger.info("handed partitions over", metadata: ["partitions": "\(surplus)"])
        } else if owned.count < target {
            let leases = try await store.leases()
            let now = Timestamp.now()
            let ownedSet = Set(owned)
            // Free ones first, then expired ones; preferring the partitions this instance's index points at
            // keeps assignments stable when everyone restarts.
            var candidates: [Int] = []
            for l in leases where l.name.hasPrefix("partition:") {
                guard let p = Int(l.name.dropFirst("partition:".count)), !ownedSet.contains(p) else { continue }
                if l.owner == nil || l.expiresAt < now { candidates.append(p) }
            }
            candidates.sort { ($0 % count == index ? 0 : 1, $0) < ($1 % count == index ? 0 : 1, $1) }
            let wanted = Array(candidates.prefix(target - owned.count))
            if !wanted.isEmpty {
                let taken = try await store.acquireLeases(wanted.map(Partitioning.leaseName), owner: instanceId, ttl: ttl)
                var adopted = Set<Int>()
                state.withLock { s in
                    for (name, token) in taken {
                        guard let p = Int(name.dropFirst("partition:".count)) else { continue }
                        s.partitions[p] = Fence(lease: name, owner: instanceId, token: token)
                        adopted.insert(p)
                    }
                }
                if !adopted.isEmpty {
                    EventoMetrics.clusterPartitionsTaken.increment(by: Int64(adopted.count))
                    logger.info("took partitions", metadata: ["partitions": "\(adopted.sorted())"])
                    let store = self.store
                    let list = adopted.sorted()
                    try await processor.adopt(partitions: adopted) { after in
                        try await store.pendingCommands(partitions: list, afterSeq: after, limit: 1000)
                    }
                }
            }
        }

        // Relays: any free (or expired) one.
        let missing = configuration.relays.filter { name in state.withLock { $0.relays[name] == nil } }
        if !missing.isEmpty {
            let taken = try await store.acquireLeases(missing, owner: instanceId, ttl: ttl)
            if !taken.isEmpty {
                state.withLock { s in for (name, token) in taken { s.relays[name] = Fence(lease: name, owner: instanceId, token: token) } }
                logger.info("took relay leases", metadata: ["relays": "\(taken.keys.sorted())"])
            }
        }
        // A safety net under the notifications: look for commands logged for this instance's partitions.
        await scan(processor)
    }

    /// Queues the commands logged for this instance's partitions since the last scan.
    func scan(_ processor: CommandProcessor) async {
        let (partitions, horizon) = state.withLock { s -> ([Int], Int64) in
            s.scanRequested = false
            return (s.partitions.keys.sorted(), s.horizon)
        }
        guard !partitions.isEmpty else { return }
        do {
            var after: Int64 = 0
            var next: Int64?
            while true {
                let (page, h) = try await store.newPendingCommands(partitions: partitions, horizon: horizon, afterSeq: after, limit: 1000)
                if next == nil { next = h }
                processor.submit(page.map(\.record))
                guard page.count == 1000, let last = page.last else { break }
                after = last.seq
            }
            if let next { state.withLock { $0.horizon = max($0.horizon, next) } }
        } catch {
            logger.warning("cannot scan for new commands: \(error)")
            state.withLock { $0.scanRequested = true }
        }
    }

    func handleNotifications(_ processor: CommandProcessor) async {
        for await n in store.notifications() {
            switch n {
            case .commands(let partitions):
                let mine = state.withLock { s in partitions.contains { s.partitions[$0] != nil } }
                if mine {
                    state.withLock { $0.scanRequested = true }
                    wake.advance(to: wake.head + 1)
                }
            case .finished(let ids):
                // Answer whoever waits here for a command another instance finished.
                for id in ids where processor.completions.isWaiting(id) {
                    if let record = try? await processor.store.command(id: id), record.status.isFinal {
                        processor.completions.resolve(id, with: CommandOutcome(record: record, events: nil))
                    }
                }
            case .resumed:
                state.withLock { $0.scanRequested = true }
                wake.advance(to: wake.head + 1)
            case .events, .functionsChanged, .schemasChanged:
                break
            }
        }
    }

    /// Runs `body` while this instance holds the relay lease `name`: it starts when the lease is taken
    /// and is cancelled when it is lost; then waits to take it again. Returns when cancelled.
    public func whileHolding(relay name: String, _ body: @escaping @Sendable () async throws -> Void) async {
        while !Task.isCancelled {
            while !holds(relay: name) {
                do { try await Task.sleep(for: .milliseconds(200)) } catch { return }
            }
            logger.info("running relay \(name) here")
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    do { try await body() } catch is CancellationError {} catch {
                        self.logger.error("relay \(name) failed: \(error)")
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
                group.addTask {
                    while self.holds(relay: name) {
                        do { try await Task.sleep(for: .milliseconds(200)) } catch { return }
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
    }

    public func status() async throws -> Status {
        let leases = try await store.leases()
        let instances = try await store.heartbeat(instance: instanceId, address: configuration.address, ttl: configuration.leaseTTL)
        return state.withLock { s in
            Status(
                instanceId: instanceId, instances: instances, leases: leases, partitionCount: store.partitionCount,
                owned: s.partitions.keys.sorted(), relays: s.relays.keys.sorted())
        }
    }
}
