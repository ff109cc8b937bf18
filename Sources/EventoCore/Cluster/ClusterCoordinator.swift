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
        /// How often leases are renewed and shares looked at; at most a quarter of `leaseTTL`.
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
        /// Who holds each partition (as of the last tick), for routing a command to its owner.
        var owners: [Int: String] = [:]
        /// The command scan's transaction horizon (see `ClusterStore.newPendingCommands`).
        var horizon: Int64 = 0
        var scanRequested = false
        /// Scans begun (a barrier waits for one that begins after it).
        var scansBegun: Int64 = 0
        /// No new leases (shutting down); the held ones are still renewed until `leave`.
        var stopping = false
        /// Leaving: the loop ends.
        var left = false
    }

    public let configuration: Configuration
    let store: any ClusterStore
    let logger: Logger
    private let state = Mutex(State())
    /// Wakes the loop early (a notification asked for a scan, or shutdown).
    private let wake = CommitSignal()
    /// The number of the last scan finished.
    private let scansDone = CommitSignal()
    /// Advanced when the loop has ended.
    private let loopEnded = CommitSignal()
    /// The address once the server knows its port (`configuration.address` names port 0 when it picks one).
    private let boundAddress = Mutex<String?>(nil)
    /// Relay bodies running now (`whileHolding`): `leave` lets them stop before it releases their leases.
    private let activeRelays = Mutex(0)

    public init(store: any ClusterStore, configuration: Configuration, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    public var instanceId: String { configuration.instanceId }

    /// The URL others reach this instance at.
    public var address: String { boundAddress.withLock { $0 } ?? configuration.address }

    /// Sets the address once the server listens (when it was not given: the port may have been picked).
    public func listening(at address: String) { boundAddress.withLock { $0 = address } }

    // MARK: Placement

    public func partition(of entity: EntityId) -> Int? { Partitioning.partition(of: entity.rawValue, count: store.partitionCount) }

    public func placement(of entity: EntityId) -> Placement {
        let p = Partitioning.partition(of: entity.rawValue, count: store.partitionCount)
        if let fence = state.withLock({ $0.partitions[p] }) { return .owned(partition: p, fence: fence) }
        return .elsewhere(partition: p)
    }

    /// The instance that holds a relay's lease (id and address), as the database says now.
    public func relayHolder(_ name: String) async throws -> (id: String, address: String?)? {
        let now = Timestamp.now()
        guard let l = try await store.leases().first(where: { $0.name == name }), let owner = l.owner, l.expiresAt > now else { return nil }
        return (owner, state.withLock { s in s.instances.first { $0.id == owner }?.address })
    }

    /// Whether this instance holds a relay's lease now.
    public func holds(relay name: String) -> Bool { state.withLock { $0.relays[name] != nil } }

    /// The address of the live instance that holds the entity's partition, when it is another instance
    /// (as of the last tick); nil when this instance holds it or nobody does.
    public func ownerAddress(of entity: EntityId) -> String? {
        let p = Partitioning.partition(of: entity.rawValue, count: store.partitionCount)
        return state.withLock { s in
            guard s.partitions[p] == nil, let owner = s.owners[p], owner != instanceId else { return nil }
            return s.instances.first { $0.id == owner }?.address
        }
    }

    // MARK: Running

    /// The time between ticks: renewals well within the lease time-to-live.
    var tickInterval: Duration { min(configuration.tick, configuration.leaseTTL / 4) }

    /// Runs until `leave()` (or cancellation): the lease loop and the notification handler.
    public func run(processor: CommandProcessor) async {
        defer { loopEnded.advance(to: 1) }
        await withDiscardingTaskGroup { group in
            group.addTask { await self.handleNotifications(processor) }
            var nextTick = ContinuousClock.now
            var seen = wake.head
            while !Task.isCancelled && !state.withLock({ $0.left }) {
                if ContinuousClock.now >= nextTick {
                    nextTick = ContinuousClock.now + tickInterval
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
                if state.withLock({ $0.scanRequested && !$0.left }) { await scan(processor) }
            }
            group.cancelAll()
        }
    }

    /// Gives every lease up and leaves the cluster (after the pipeline stopped: nothing runs here any
    /// more), so that the others take the partitions at once instead of after expiry. Waits for the lease
    /// loop to end first, so that no tick takes a lease behind it.
    public func leave() async {
        state.withLock { s in
            s.stopping = true
            s.left = true
        }
        wake.advance(to: wake.head + 1)
        _ = await loopEnded.wait(after: 0, timeout: .seconds(10))
        let (partitions, relays) = state.withLock { s -> ([Int], [String]) in
            let out = (Array(s.partitions.keys), Array(s.relays.keys))
            s.partitions = [:]
            s.relays = [:]
            return out
        }
        // The relays stop (they see their leases gone) before another instance may start them.
        let deadline = ContinuousClock.now + .seconds(5)
        while activeRelays.withLock({ $0 }) > 0 && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        do {
            try await store.releaseLeases(partitions.map(Partitioning.leaseName) + relays, owner: instanceId)
            try await store.removeInstance(instanceId)
            logger.info("left the cluster", metadata: ["partitions": "\(partitions.count)", "relays": "\(relays)"])
        } catch {
            logger.warning("could not hand the leases over (they expire by themselves): \(error)")
        }
    }

    /// Stops taking leases (before the pipeline drains); the held ones are renewed until `leave`.
    public func stopTaking() {
        state.withLock { $0.stopping = true }
        wake.advance(to: wake.head + 1)
    }

    /// Returns once a scan that began after this call has finished: every command logged for this
    /// instance's partitions before the call is queued by then. A command run here without being logged
    /// first (the one-write path) waits for this, so that it cannot overtake an older command of its entity
    /// logged through another instance.
    public func freshScan() async {
        let target = state.withLock { s -> Int64 in
            s.scanRequested = true
            return s.scansBegun + 1
        }
        wake.advance(to: wake.head + 1)
        while scansDone.head < target {
            if state.withLock({ $0.left }) { return }
            _ = await scansDone.wait(after: scansDone.head, timeout: .milliseconds(200))
            if Task.isCancelled { return }
        }
    }

    func tick(_ processor: CommandProcessor) async throws {
        let ttl = configuration.leaseTTL
        let live = try await store.heartbeat(instance: instanceId, address: address, ttl: ttl)
        let held = try await store.renewLeases(owner: instanceId, ttl: ttl)
        let (lost, unknown) = state.withLock { s -> ([Int], [String]) in
            s.instances = live
            let lost = s.partitions.keys.filter { held[Partitioning.leaseName($0)] == nil }
            for p in lost { s.partitions[p] = nil }
            for name in s.relays.keys where held[name] == nil { s.relays[name] = nil }
            // Held in the database but not known here (a release or an acquisition whose answer was lost,
            // or a previous process under the same id): given up, so that they are adopted properly.
            let known = Set(s.partitions.keys.map(Partitioning.leaseName)).union(s.relays.keys)
            return (lost, held.keys.filter { !known.contains($0) })
        }
        if !lost.isEmpty {
            EventoMetrics.clusterLeasesLost.increment(by: Int64(lost.count))
            logger.warning("lost partition leases", metadata: ["partitions": "\(lost.sorted())"])
        }
        if !unknown.isEmpty {
            logger.notice("giving up leases held under this id but not known here", metadata: ["leases": "\(unknown.sorted())"])
            try await store.releaseLeases(unknown, owner: instanceId)
        }
        EventoMetrics.clusterInstances.record(live.count)
        defer {
            let (owned, relays) = state.withLock { ($0.partitions.count, $0.relays.count) }
            EventoMetrics.clusterPartitionsOwned.record(owned)
            EventoMetrics.clusterRelaysHeld.record(relays)
        }
        guard !state.withLock({ $0.stopping }) else { return }
        let leases = try await store.leases()
        let now = Timestamp.now()
        state.withLock { s in
            s.owners = [:]
            for l in leases where l.name.hasPrefix("partition:") {
                if let owner = l.owner, l.expiresAt > now, let p = Int(l.name.dropFirst("partition:".count)) { s.owners[p] = owner }
            }
        }

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
            let fences = state.withLock { s in surplus.compactMap { p in s.partitions.removeValue(forKey: p).map { (p, $0) } } }
            do {
                try await store.releaseLeases(surplus.map(Partitioning.leaseName), owner: instanceId)
            } catch {
                // Still ours: keep running them (and try again next tick).
                state.withLock { s in for (p, f) in fences { s.partitions[p] = f } }
                throw error
            }
            EventoMetrics.clusterPartitionsHandedOver.increment(by: Int64(surplus.count))
            logger.info("handed partitions over", metadata: ["partitions": "\(surplus)"])
        } else if owned.count < target {
            let ownedSet = Set(owned)
            let liveIds = Set(ids)
            // Free ones, expired ones, and those of instances no longer alive (the database decides whether
            // they have expired: its clock, not this instance's); preferring the partitions this instance's
            // index points at keeps assignments stable when everyone restarts.
            var candidates: [(Int, Int)] = []
            for l in leases where l.name.hasPrefix("partition:") {
                guard let p = Int(l.name.dropFirst("partition:".count)), !ownedSet.contains(p) else { continue }
                if l.owner == nil || l.expiresAt < now {
                    candidates.append((p, p % count == index ? 0 : 1))
                } else if let owner = l.owner, !liveIds.contains(owner) {
                    candidates.append((p, 2))
                }
            }
            candidates.sort { ($0.1, $0.0) < ($1.1, $1.0) }
            let wanted = Array(candidates.prefix(target - owned.count).map(\.0))
            if !wanted.isEmpty {
                let taken = try await store.acquireLeases(wanted.map(Partitioning.leaseName), owner: instanceId, ttl: ttl)
                var fences: [Int: Fence] = [:]
                for (name, token) in taken {
                    guard let p = Int(name.dropFirst("partition:".count)) else { continue }
                    fences[p] = Fence(lease: name, owner: instanceId, token: token)
                }
                if !fences.isEmpty { try await adopt(fences, processor) }
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

    /// Runs partitions just taken: their commands are held back (not placed here yet) until their pending
    /// ones are queued, in acceptance order. When that fails, the partitions are given up again (another
    /// instance, or this one on a later tick, adopts them afresh).
    func adopt(_ fences: [Int: Fence], _ processor: CommandProcessor) async throws {
        let adopted = Set(fences.keys)
        processor.beginAdopting(adopted)
        state.withLock { s in for (p, f) in fences { s.partitions[p] = f } }
        EventoMetrics.clusterPartitionsTaken.increment(by: Int64(adopted.count))
        logger.info("took partitions", metadata: ["partitions": "\(adopted.sorted())"])
        let store = self.store
        let list = adopted.sorted()
        do {
            try await processor.adopt(partitions: adopted) { after in
                try await store.pendingCommands(partitions: list, afterSeq: after, limit: 1000)
            }
        } catch {
            state.withLock { s in for p in adopted where s.partitions[p] == fences[p] { s.partitions[p] = nil } }
            try? await store.releaseLeases(list.map(Partitioning.leaseName), owner: instanceId)
            logger.warning("could not adopt partitions; gave them up: \(error)", metadata: ["partitions": "\(list)"])
            throw error
        }
    }

    /// Queues the commands logged for this instance's partitions since the last scan.
    func scan(_ processor: CommandProcessor) async {
        let (partitions, horizon, number) = state.withLock { s -> ([Int], Int64, Int64) in
            s.scanRequested = false
            s.scansBegun += 1
            return (s.partitions.keys.sorted(), s.horizon, s.scansBegun)
        }
        defer { scansDone.advance(to: number) }
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

    /// Answers whoever waits here for commands another instance finished.
    func answerWaiters(_ ids: [String], _ processor: CommandProcessor) async {
        for id in ids where processor.completions.isWaiting(id) {
            if let record = try? await processor.store.command(id: id), record.status.isFinal {
                processor.completions.resolve(id, with: CommandOutcome(record: record, events: nil))
            }
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
                await answerWaiters(ids, processor)
            case .resumed:
                // Notifications may have been missed: scan, and look at every waiter.
                state.withLock { $0.scanRequested = true }
                wake.advance(to: wake.head + 1)
                await answerWaiters(processor.completions.keys(), processor)
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
            activeRelays.withLock { $0 += 1 }
            defer { activeRelays.withLock { $0 -= 1 } }
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    do { try await body() } catch is CancellationError {} catch {
                        self.logger.error("relay \(name) failed: \(error)")
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
                group.addTask {
                    while self.holds(relay: name) {
                        do { try await Task.sleep(for: .milliseconds(50)) } catch { return }
                    }
                }
                await group.next()
                group.cancelAll()
            }
        }
    }

    public func status() async throws -> Status {
        // The instances as of the last tick (a read must not count as a heartbeat).
        let leases = try await store.leases()
        return state.withLock { s in
            Status(
                instanceId: instanceId, instances: s.instances, leases: leases, partitionCount: store.partitionCount,
                owned: s.partitions.keys.sorted(), relays: s.relays.keys.sorted())
        }
    }
}
