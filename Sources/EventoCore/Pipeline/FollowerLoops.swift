import Logging
import Synchronization

/// The loops of the functions of one kind that follow the log (dispatchers, projectors): one per registered
/// function, started when it is registered (looked for at each commit, or every second) and ended by the loop
/// itself when its function is removed. Each running loop has a value here of its own kind (a dispatcher's
/// cursor, a projector's wake-up flag), present exactly while the loop runs.
final class FollowerLoops<Value: Sendable>: Sendable {
    /// The value of each running loop, by function name.
    let values = Mutex<[String: Value]>([:])
    /// What the loops follow for, in log messages ("dispatcher", "projector").
    let kind: String

    init(kind: String) { self.kind = kind }

    /// Runs until cancelled.
    /// - Parameters:
    ///   - functions: the registered functions of this kind.
    ///   - initial: a new loop's value, given the head position when it is started.
    ///   - eachRound: called after each look for new functions (metrics over all loops).
    ///   - follow: one function's loop; returns when the function is removed.
    func run(
        commits: CommitSignal, logger: Logger, functions: @escaping @Sendable () -> [FunctionDefinition], initial: @escaping @Sendable (Int64) -> Value,
        eachRound: @escaping @Sendable () -> Void = {}, follow: @escaping @Sendable (String) async throws -> Void
    ) async throws {
        try await withThrowingDiscardingTaskGroup { group in
            var seen = commits.head
            while !Task.isCancelled {
                for f in functions() {
                    let isNew = values.withLock { v in
                        guard v[f.name] == nil else { return false }
                        v[f.name] = initial(seen)
                        return true
                    }
                    guard isNew else { continue }
                    group.addTask {
                        defer { _ = self.values.withLock { $0.removeValue(forKey: f.name) } }
                        do {
                            try await follow(f.name)
                        } catch is CancellationError {
                        } catch {
                            logger.error("\(self.kind) loop failed: \(error)", metadata: ["evento.function": "\(f.name)"])
                            try? await Task.sleep(for: .seconds(1))
                        }
                    }
                }
                eachRound()
                seen = await commits.wait(after: seen, timeout: .seconds(1))
            }
            group.cancelAll()
        }
    }
}
