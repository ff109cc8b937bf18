import EventoCore

/// The command log and the dispatch log.
extension InMemoryStore {
    // MARK: Command log

    public func submit(_ commands: [NewCommand]) async throws -> [CommandSubmission] {
        guard !commands.isEmpty else { return [] }
        return try write { s, now in
            let plan = try s.planSubmit(commands, now: now)
            for r in plan.new { s.insert(r) }
            return plan.submissions
        }
    }

    public func command(id: String) async throws -> CommandRecord? {
        try read { s in s.storedCommand(id: id) }
    }

    public func pendingCommands(afterSeq: Int64, limit: Int) async throws -> [(seq: Int64, record: CommandRecord)] {
        try read { s in
            var out: [(seq: Int64, record: CommandRecord)] = []
            var i = Int(clamping: max(afterSeq, 0))
            while i < s.commands.count, limit < 0 || out.count < limit {
                if s.commands[i].status == .pending { out.append((Int64(i + 1), s.commands[i])) }
                i += 1
            }
            return out
        }
    }

    /// One process owns this store: there is no lease to check (`fence` is for clustered stores).
    public func recordFailure(_ command: CommandRecord, status: CommandStatus, attempts: Int, error: String, fence: Fence?) async throws -> CommandRecord {
        try write { s, now in
            var record = command
            record.status = status
            record.attempts = attempts
            record.lastError = error
            record.updatedAt = now
            if let i = s.commandIndex[command.id] {
                let stored = s.commands[i]
                // Another command under this id: refused, whatever its status.
                try State.checkSame(command, stored, index: 0)
                // Finished meanwhile (another instance of it).
                guard stored.status == .pending else { return stored }
                s.commands[i].status = status
                s.commands[i].attempts = attempts
                s.commands[i].lastError = error
                s.commands[i].updatedAt = now
                return record
            }
            s.insert(record)
            return record
        }
    }

    public func complete(_ completion: CommandCompletion) async throws -> CompletionResult {
        try write { s, now in
            let command = completion.command
            var events = completion.events
            for i in events.indices { events[i].expectedVersion = .exact(completion.expectedVersion + Int64(i)) }
            var record = command
            record.status = .succeeded
            record.attempts = completion.attempts
            record.lastError = nil
            record.resultEventIds = events.map(\.id)
            record.updatedAt = now
            // The command's row: updated when logged and pending, inserted when not logged yet.
            let row: Int?
            if let i = s.commandIndex[command.id] {
                let stored = s.commands[i]
                // As the SQLite store: a command said to be logged and found pending is finished without
                // comparing it to the stored one.
                if !(completion.isLogged && stored.status == .pending) {
                    try State.checkSame(command, stored, index: 0)
                    if stored.status.isFinal { return .alreadyFinal(stored) }
                    // Logged meanwhile (its waiter gave up), still pending: finish it.
                    record.createdAt = stored.createdAt
                }
                row = i
            } else {
                row = nil
            }
            let plan = try s.planAppend(events, replays: .refuse, now: now)
            try s.reserve(completion.uniqueValues)
            // Nothing below throws.
            if let row {
                s.commands[row].status = .succeeded
                s.commands[row].attempts = completion.attempts
                s.commands[row].lastError = nil
                s.commands[row].resultEventIds = record.resultEventIds
                s.commands[row].updatedAt = now
            } else {
                s.insert(record)
            }
            s.apply(plan)
            if let snapshot = completion.snapshot { s.save(snapshot) }
            return .committed(record, plan.result)
        }
    }

    /// Most recently dead first (ties: the later accepted first, as SQLite walks its index backwards).
    public func deadCommands(limit: Int) async throws -> [CommandRecord] {
        try read { s in
            let dead = s.commands.indices.filter { s.commands[$0].status == .dead }.sorted { a, b in
                let (x, y) = (s.commands[a].updatedAt, s.commands[b].updatedAt)
                return x != y ? x > y : a > b
            }
            return State.limited(dead, limit).map { s.commands[$0] }
        }
    }

    public func revive(commandId: String) async throws -> CommandRecord? {
        try write { s, now in
            guard let i = s.commandIndex[commandId] else { return nil }
            if s.commands[i].status == .dead || s.commands[i].status == .failed {
                s.commands[i].status = .pending
                s.commands[i].attempts = 0
                s.commands[i].updatedAt = now
            }
            return s.commands[i]
        }
    }

    // MARK: Dispatch log

    public func commit(_ dispatch: DispatchCommit) async throws -> [CommandRecord] {
        try write { s, now in
            let plan = try s.planSubmit(dispatch.commands, now: now)
            for r in plan.new { s.insert(r) }
            for d in dispatch.deadDispatches {
                if s.deadDispatches[d.id] != nil {
                    // As the SQLite upsert: a dispatch parked again keeps its dispatcher, event and time.
                    s.deadDispatches[d.id]!.attempts = d.attempts
                    s.deadDispatches[d.id]!.lastError = d.lastError
                } else {
                    s.deadDispatches[d.id] = d
                }
            }
            if !dispatch.cursorName.isEmpty { s.cursors[dispatch.cursorName] = dispatch.position }
            return plan.new
        }
    }

    /// Most recently parked first.
    public func deadDispatches(limit: Int) async throws -> [DeadDispatch] {
        try read { s in
            let all = s.deadDispatches.values.sorted { a, b in a.createdAt != b.createdAt ? a.createdAt > b.createdAt : a.id < b.id }
            return Array(State.limited(all, limit))
        }
    }

    public func deadDispatch(id: String) async throws -> DeadDispatch? {
        try read { s in s.deadDispatches[id] }
    }

    public func removeDeadDispatch(id: String) async throws {
        try write { s, _ in _ = s.deadDispatches.removeValue(forKey: id) }
    }
}

extension InMemoryStore.State {
    /// Checks commands to add as `pending`, as the SQLite store's `insert(_:in:)`: an id already logged
    /// (or earlier in the batch) is answered with the stored record when it is the same command (entity,
    /// type and payload), and is an `IdempotencyConflict` otherwise.
    /// - Returns: the answers in request order, and the records to insert (their seqs follow the log's).
    func planSubmit(_ batch: [NewCommand], now: Timestamp) throws -> (submissions: [CommandSubmission], new: [CommandRecord]) {
        var submissions: [CommandSubmission] = []
        var new: [CommandRecord] = []
        var newIndex: [String: Int] = [:]
        for (index, c) in batch.enumerated() {
            let candidate = c.record(at: now)
            if let stored = newIndex[c.id].map({ new[$0] }) ?? storedCommand(id: c.id) {
                try Self.checkSame(candidate, stored, index: index)
                submissions.append(CommandSubmission(record: stored, isNew: false))
                continue
            }
            newIndex[c.id] = new.count
            new.append(candidate)
            submissions.append(CommandSubmission(record: candidate, isNew: true, seq: Int64(commands.count + new.count)))
        }
        return (submissions, new)
    }

    /// Throws when the log holds another command under `command`'s id (`CommandRecord.conflict(with:)`).
    static func checkSame(_ command: CommandRecord, _ stored: CommandRecord, index: Int) throws {
        if let conflict = command.conflict(with: stored, index: index) { throw conflict }
    }

    /// Adds a command's row (at the next seq) as the record says.
    mutating func insert(_ r: CommandRecord) {
        let i = commands.count
        commands.append(r)
        commandIndex[r.id] = i
        if let cause = r.causationId { commandsByCause[cause, default: []].append(i) }
    }
}

extension InMemoryStore.State {
    /// Reserves each unique value for its entity, releasing what the entity held before under that field.
    /// - Throws: `UniqueConflict` when another entity holds one; then nothing is changed.
    mutating func reserve(_ values: [UniqueValue]) throws {
        for u in values {
            if let value = u.value, let held = uniqueValues["\(u.aggregate)\u{0}\(u.field)\u{0}\(value)"], held != u.entity.rawValue {
                throw UniqueConflict(aggregate: u.aggregate, field: u.field, value: value, holder: held)
            }
        }
        for u in values {
            let held = "\(u.aggregate)\u{0}\(u.field)\u{0}\(u.entity.rawValue)"
            if let old = uniqueHeld[held] { uniqueValues["\(u.aggregate)\u{0}\(u.field)\u{0}\(old)"] = nil }
            uniqueHeld[held] = u.value
            if let value = u.value { uniqueValues["\(u.aggregate)\u{0}\(u.field)\u{0}\(value)"] = u.entity.rawValue }
        }
    }
}
