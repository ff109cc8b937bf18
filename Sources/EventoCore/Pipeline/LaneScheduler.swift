import DequeModule

/// Which commands run when: the command processor's scheduling state, a value type the processor keeps
/// behind its lock. Every method is O(1) in the length of any queue (amortised), so one entity with
/// 100,000 queued commands costs each new command what an idle entity does.
///
/// - One **lane** per entity with work: its commands in acceptance order; only the front one runs, so
///   commands to one entity never overlap or reorder.
/// - A lane is `ready` (waiting for a slot), `running` (holding one), or `waiting` (its front command is
///   backing off after a failed attempt: it holds no slot, and the commands behind it wait for it).
/// - Slots are limited twice: per aggregate (the handler's `maxConcurrency`) and for the whole server
///   (`maxRunning`). A handler that hangs fills its own aggregate's slots only; every other aggregate's
///   lanes keep running. Aggregates with ready lanes take the free global slots in turn.
struct LaneScheduler {
    /// A command in a lane, and whether the command log holds it yet (a command whose client waits for
    /// its outcome is logged by its completion, unless the wait ends first).
    struct Queued {
        var record: CommandRecord
        var isLogged: Bool
    }

    enum Phase: Equatable {
        case ready
        case running
        case waiting
    }

    struct Lane {
        let aggregate: String
        var queue: Deque<CommandRecord> = []
        var phase: Phase = .ready
    }

    /// What `enqueue` did.
    enum Enqueued {
        case queued
        /// A command under this id is queued (or running) already; this is it.
        case alreadyQueued(CommandRecord)
    }

    private(set) var lanes: [String: Lane] = [:]
    /// Every command queued (or running), by id, with its lane: a command is never queued twice.
    private var queued: [String: String] = [:]
    /// The queued commands the log does not hold yet.
    private var unlogged: Set<String> = []
    /// Ready lanes, per aggregate, in the order they became ready.
    private var ready: [String: Deque<String>] = [:]
    /// Aggregates that have ready lanes, in turn order.
    private var turns: Deque<String> = []
    private var runningPerAggregate: [String: Int] = [:]
    private(set) var running = 0
    let maxRunning: Int

    init(maxRunning: Int) {
        self.maxRunning = max(1, maxRunning)
    }

    /// Commands queued or running.
    var backlog: Int { queued.count }

    /// Queues a command at the back of its entity's lane, unless a command under its id is queued already.
    mutating func enqueue(_ command: CommandRecord, isLogged: Bool = true) -> Enqueued {
        let key = command.entity.rawValue
        if let lane = queued[command.id] {
            // Rare (a client sending an id again while it runs): worth a look along that lane.
            if let existing = lanes[lane]?.queue.first(where: { $0.id == command.id }) { return .alreadyQueued(existing) }
        }
        queued[command.id] = key
        if !isLogged { unlogged.insert(command.id) }
        if lanes[key] == nil {
            lanes[key] = Lane(aggregate: command.entity.aggregate)
            makeReady(key, aggregate: command.entity.aggregate)
        }
        // In place: `lanes[key]?.queue.append` mutates the stored deque (a copy taken out and put back
        // would copy the whole queue on every command).
        lanes[key]!.queue.append(command)
        return .queued
    }

    /// Notes that a queued command is now in the log.
    mutating func markLogged(_ id: String) { unlogged.remove(id) }

    /// Lanes that can start now, marked running. `limit` gives an aggregate's concurrency (asked once per
    /// aggregate and call).
    mutating func startable(limit: (String) -> Int) -> [String] {
        var started: [String] = []
        var limits: [String: Int] = [:]
        // Aggregates passed over in a row because they are full: a whole round of them ends the search.
        var skipped = 0
        // Each aggregate in turn gets one slot, until the slots or the candidates run out.
        while running < maxRunning, skipped < turns.count, let aggregate = turns.popFirst() {
            guard var queue = ready.removeValue(forKey: aggregate), !queue.isEmpty else { continue }
            let cap = limits[aggregate] ?? limit(aggregate)
            limits[aggregate] = cap
            if runningPerAggregate[aggregate, default: 0] >= cap {
                // Full: it keeps its place in the rotation and its lanes wait.
                ready[aggregate] = queue
                turns.append(aggregate)
                skipped += 1
                continue
            }
            skipped = 0
            let entity = queue.removeFirst()
            if !queue.isEmpty {
                ready[aggregate] = queue
                turns.append(aggregate)
            }
            lanes[entity]?.phase = .running
            runningPerAggregate[aggregate, default: 0] += 1
            running += 1
            started.append(entity)
        }
        return started
    }

    /// The command at the front of a running lane.
    func front(of entity: String) -> Queued? {
        lanes[entity]?.queue.first.map { Queued(record: $0, isLogged: !unlogged.contains($0.id)) }
    }

    /// The front command ended (any final status): the lane goes on with its next command, or retires.
    /// - Returns: whether the lane has another command (it keeps its slot and runs it).
    mutating func finished(_ entity: String) -> Bool {
        guard var lane = lanes.removeValue(forKey: entity) else { return false }
        if let done = lane.queue.popFirst() {
            queued[done.id] = nil
            unlogged.remove(done.id)
        }
        if lane.queue.isEmpty {
            release(lane.aggregate)
            return false
        }
        lanes[entity] = lane
        return true
    }

    /// The front command failed and waits for its next attempt: the lane gives up its slot meanwhile.
    mutating func backOff(_ entity: String, attempts: Int, isLogged: Bool = true) {
        guard lanes[entity] != nil else { return }
        lanes[entity]!.queue[0].attempts = attempts
        if isLogged { unlogged.remove(lanes[entity]!.queue[0].id) }
        lanes[entity]!.phase = .waiting
        release(lanes[entity]!.aggregate)
    }

    /// A waiting lane's backoff is over: it is ready again.
    mutating func due(_ entity: String) {
        guard let lane = lanes[entity], lane.phase == .waiting else { return }
        lanes[entity]!.phase = .ready
        makeReady(entity, aggregate: lane.aggregate)
    }

    /// A running lane stops without finishing its command (shutdown): it holds no slot any more.
    mutating func abandon(_ entity: String) {
        guard let lane = lanes[entity], lane.phase == .running else { return }
        lanes[entity]!.phase = .waiting
        release(lane.aggregate)
    }

    private mutating func release(_ aggregate: String) {
        running -= 1
        let n = runningPerAggregate[aggregate, default: 1] - 1
        runningPerAggregate[aggregate] = n > 0 ? n : nil
    }

    private mutating func makeReady(_ entity: String, aggregate: String) {
        if ready[aggregate] == nil {
            ready[aggregate] = [entity]
            turns.append(aggregate)
        } else {
            ready[aggregate]!.append(entity)
        }
    }
}
