import Logging
import Synchronization

/// Refolds every snapshot of an aggregate from its events, online (`POST /aggregates/{aggregate}/rebuild`):
/// after an aggregator changed, the stored states are what the new one makes of the events. One rebuild
/// per aggregate at a time; entity by entity, commands going on meanwhile (a snapshot a command commits
/// while its entity is refolded is newer and kept). Progress is observable (`status`).
public final class SnapshotRebuilder: Sendable {
    public struct Progress: Sendable {
        public enum State: String, Sendable {
            case running, done, failed
        }
        public var aggregate: String
        public var state: State
        /// Entities refolded so far.
        public var entities: Int
        /// Events folded so far.
        public var events: Int64
        /// Entities whose aggregator failed (their snapshots are left as they were), and the last error.
        public var failures: Int
        public var lastError: String?
        public var startedAt: Timestamp
        public var finishedAt: Timestamp?
    }

    public typealias Store = EventLog & SnapshotStore & SnapshotListing & ConsoleQueries

    let store: any Store
    let aggregates: Aggregates
    let functions: any FunctionDirectory
    let validator: any SchemaValidator
    let logger: Logger
    private let progress = Mutex<[String: Progress]>([:])
    private let jobs: AsyncStream<String>.Continuation
    private let queue: AsyncStream<String>

    /// - Parameter validator: names the aggregate's unique fields, whose values the refolded states hold
    ///   and which are reserved with each snapshot (as a command's completion reserves them).
    public init(store: any Store, aggregates: Aggregates, functions: any FunctionDirectory, validator: any SchemaValidator, logger: Logger) {
        self.store = store
        self.validator = validator
        self.aggregates = aggregates
        self.functions = functions
        self.logger = logger
        (queue, jobs) = AsyncStream.makeStream(of: String.self)
    }

    /// Runs the rebuilds asked for, each in its own task, until cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for await aggregate in queue {
                group.addTask { await self.rebuild(aggregate) }
            }
        }
    }

    /// Starts a rebuild of the aggregate's snapshots; its progress.
    /// - Throws: not found without an aggregator; a conflict while one is running.
    public func start(_ aggregate: String) throws -> Progress {
        guard functions.aggregator(for: aggregate) != nil else {
            throw EventoError.notFound("aggregate \(aggregate) has no aggregator; register one before rebuilding its snapshots")
        }
        let started = try progress.withLock { p -> Progress in
            if let current = p[aggregate], current.state == .running {
                throw EventoError(.conflict, "the snapshots of \(aggregate) are being rebuilt already (\(current.entities) entities so far)")
            }
            let new = Progress(aggregate: aggregate, state: .running, entities: 0, events: 0, failures: 0, startedAt: .now())
            p[aggregate] = new
            return new
        }
        jobs.yield(aggregate)
        return started
    }

    public func status(_ aggregate: String) -> Progress? { progress.withLock { $0[aggregate] } }

    private func update(_ aggregate: String, _ change: (inout Progress) -> Void) {
        progress.withLock { p in if var v = p[aggregate] { change(&v); p[aggregate] = v } }
    }

    func rebuild(_ aggregate: String) async {
        var after: String?
        let uniqueFields = validator.uniqueFields(aggregate: aggregate)
        do {
            while !Task.isCancelled {
                let ids = try await store.entityIds(prefix: aggregate + ":", after: after, limit: 200)
                guard let last = ids.last else { break }
                for id in ids {
                    guard let aggregator = functions.aggregator(for: aggregate) else {
                        throw EventoError(.unknownReference, "the aggregator of \(aggregate) was removed")
                    }
                    let entity = EntityId(stored: id)
                    do {
                        // Forgotten first, so that a command from now on folds from the store, not from memory.
                        aggregates.forget(entity)
                        var state: RawJSON?
                        var at: Int64 = 0
                        var rounds = 0
                        while true {
                            while true {
                                let events = try await store.events(entity: entity, fromSequence: at + 1, limit: 500)
                                guard let e = events.last else { break }
                                state = try await aggregates.fold(aggregator, FunctionProtocol.Aggregate(entity: entity, version: at, state: state), events)
                                at = e.sequence
                                update(aggregate) { $0.events += Int64(events.count) }
                                if events.count < 500 { break }
                            }
                            let refolded = Snapshot(entity: entity, version: at, state: state ?? .null)
                            let values = refolded.uniqueValues(uniqueFields)
                            // A value another entity holds (the new aggregator makes two states share it)
                            // fails this entity: its snapshot and reservations stay as they were.
                            try await store.replace(refolded, uniqueValues: values)
                            aggregates.forget(entity)
                            // A command that committed meanwhile folded from the state it started with (the old
                            // one, perhaps): its newer snapshot is folded again from the rebuilt state.
                            rounds += 1
                            guard let stored = try await store.snapshot(of: entity)?.version, stored > at else { break }
                            guard rounds < 5 else {
                                throw EventoError(.conflict, "commands kept changing \(entity) while it was refolded; rebuild again")
                            }
                        }
                        update(aggregate) { $0.entities += 1 }
                    } catch is CancellationError {
                        throw CancellationError()
                    } catch {
                        update(aggregate) {
                            $0.failures += 1
                            $0.lastError = "\(entity): \(error)"
                        }
                    }
                }
                after = last
                if ids.count < 200 { break }
            }
            update(aggregate) {
                $0.state = Task.isCancelled ? .failed : .done
                if Task.isCancelled { $0.lastError = "stopped by a shutdown" }
                $0.finishedAt = .now()
            }
        } catch {
            update(aggregate) {
                $0.state = .failed
                $0.lastError = "\(error)"
                $0.finishedAt = .now()
            }
        }
        if let p = status(aggregate) {
            logger.info("snapshots rebuilt", metadata: ["aggregate": "\(aggregate)", "entities": "\(p.entities)", "failures": "\(p.failures)"])
        }
    }
}
