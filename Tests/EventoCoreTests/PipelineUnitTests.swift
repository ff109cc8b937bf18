import EventoCore
import EventoStore
import Synchronization
import Testing

let counter1 = try! EntityId(parsing: "counter:1")

func addDraft(_ id: String, to entity: EntityId = counter1, n: Int64 = 1) -> CommandDraft {
    CommandDraft(id: id, entity: entity, type: "Add", payload: ["n": .int(n)])
}

/// A counter with a handler and an aggregator of separate programs.
func counterHarness(maxAttempts: Int = 3, handler: FakeFunctions.Body? = nil) -> PipelineHarness {
    let h = PipelineHarness()
    h.functions.register(.fake("counter-handler", .handler, aggregate: "counter", maxAttempts: maxAttempts), handler ?? { Counter.handle($0) })
    h.functions.register(.fake("counter-aggregator", .aggregator, aggregate: "counter")) { Counter.fold($0) }
    return h
}

extension Evento.CommandReply {
    var finishedResult: (CommandRecord, [EventEnvelope])? {
        if case .finished(let r, let e) = self { return (r, e) }
        return nil
    }
    var acceptedRecord: CommandRecord? {
        if case .accepted(let r) = self { return r }
        return nil
    }
}

// MARK: CommandProcessor

@Suite struct CommandProcessorTests {
    @Test func aCommandRunsThroughHandlerAndAggregatorAndIsLoggedWithItsResultInOneWrite() async throws {
        let h = counterHarness()
        let reply = try await h.running { try await h.evento.submit(addDraft("c1", n: 5), wait: .seconds(30)) }
        let (record, events) = try #require(reply.finishedResult)
        #expect(record.status == .succeeded && record.attempts == 1)
        try #require(events.count == 1)
        let e = events[0]
        #expect(Array(e.id)[14] == "7", "a handler's event gets a fresh UUIDv7")
        #expect(record.resultEventIds == [e.id])
        #expect(e.type == "Added" && e.sequence == 1 && e.causationId == "c1" && e.causationKind == .command)
        #expect(try e.payload.value() == ["n": 5])
        #expect(try await h.memory.command(id: "c1") == record)
        #expect(h.store.writes == ["complete"], "logged with its events, snapshot and result in one write")
        #expect(try await h.memory.snapshot(of: counter1) == Snapshot(entity: counter1, version: 1, state: RawJSON(["total": 5])))
        let handled = h.functions.calls(to: "counter-handler")
        try #require(handled.count == 1)
        #expect(handled[0]["aggregate"]?["version"] == 0 && handled[0]["aggregate"]?["state"] == .null)
        #expect(handled[0]["fold"] == nil, "the aggregator is another program")
        let folded = h.functions.calls(to: "counter-aggregator")
        try #require(folded.count == 1)
        #expect(folded[0]["events"]?.arrayValue?.count == 1)
    }

    @Test func aHandlerThatFoldsInItsReplySavesTheAggregatorsRoundTrip() async throws {
        let h = PipelineHarness()
        h.functions.register(.fake("counter-handler", .handler, aggregate: "counter", program: "counter")) { Counter.handle($0, folds: true) }
        h.functions.register(.fake("counter-aggregator", .aggregator, aggregate: "counter", program: "counter")) { Counter.fold($0) }
        try await h.running {
            _ = try await h.evento.submit(addDraft("c1", n: 2), wait: .seconds(30))
            _ = try await h.evento.submit(addDraft("c2", n: 3), wait: .seconds(30))
        }
        #expect(h.functions.calls(to: "counter-handler").map { $0["fold"] } == [true, true])
        #expect(h.functions.calls(to: "counter-aggregator").isEmpty)
        #expect(try await h.memory.snapshot(of: counter1) == Snapshot(entity: counter1, version: 2, state: RawJSON(["total": 5])))
    }

    @Test func aHandlerAskedToFoldThatAnswersWithoutStateGetsSeparateAggregatorCalls() async throws {
        let h = PipelineHarness()
        h.functions.register(.fake("counter-handler", .handler, aggregate: "counter", program: "counter")) { Counter.handle($0, folds: false) }
        h.functions.register(.fake("counter-aggregator", .aggregator, aggregate: "counter", program: "counter")) { Counter.fold($0) }
        try await h.running {
            _ = try await h.evento.submit(addDraft("c1", n: 2), wait: .seconds(30))
            _ = try await h.evento.submit(addDraft("c2", n: 3), wait: .seconds(30))
        }
        #expect(h.functions.calls(to: "counter-handler").map { $0["fold"] } == [true, nil], "asked once, then no more")
        #expect(h.functions.calls(to: "counter-aggregator").count == 2)
        #expect(try await h.memory.snapshot(of: counter1) == Snapshot(entity: counter1, version: 2, state: RawJSON(["total": 5])))
    }

    @Test func commandsToOneEntityRunOneAtATimeAndEachClientsInTheOrderItSubmittedThem() async throws {
        /// What the handler saw: commands in flight per entity, the most at once, and each call's command and version.
        struct Seen {
            var inFlight: [String: Int] = [:]
            var most = 0
            var calls: [String: [(command: String, version: Int64)]] = [:]
        }
        let seen = Locked(Seen())
        let h = counterHarness { request in
            let entity = request["command"]?["entity"]?.stringValue ?? ""
            seen.withLock { s in
                s.inFlight[entity, default: 0] += 1
                s.most = max(s.most, s.inFlight[entity]!)
                s.calls[entity, default: []].append((request["command"]?["id"]?.stringValue ?? "", request["aggregate"]?["version"]?.intValue ?? -1))
            }
            try await Task.sleep(for: .milliseconds(1))
            seen.withLock { $0.inFlight[entity]! -= 1 }
            return Counter.handle(request)
        }
        let clients = 4, perClient = 10
        let entities = ["counter:1", "counter:2"]
        try await h.running {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for entity in entities {
                    for client in 0..<clients {
                        group.addTask {
                            for i in 0..<perClient {
                                let draft = addDraft("\(entity)/\(client)/\(i)", to: try EntityId(parsing: entity))
                                #expect(try await h.evento.submit(draft, wait: nil).acceptedRecord != nil)
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            for entity in entities {
                for client in 0..<clients {
                    for i in 0..<perClient { _ = try await h.finished("\(entity)/\(client)/\(i)") }
                }
            }
        }
        let s = seen.value
        #expect(s.most == 1, "never two commands of one entity at once")
        for entity in entities {
            let calls = s.calls[entity] ?? []
            #expect(calls.map(\.version) == Array(0..<Int64(clients * perClient)), "each command saw the one before it")
            for client in 0..<clients {
                let mine = calls.map(\.command).filter { $0.hasPrefix("\(entity)/\(client)/") }
                #expect(mine == (0..<perClient).map { "\(entity)/\(client)/\($0)" }, "client \(client)'s commands ran in its order")
            }
            let events = try await h.memory.events(entity: EntityId(parsing: entity), fromSequence: 1, limit: 1000)
            #expect(events.map(\.sequence) == Array(1...Int64(clients * perClient)))
            #expect(events.map(\.causationId) == calls.map(\.command), "committed in the order handled")
        }
    }

    @Test func aRetryableFailureIsRetriedWithBackoffUntilMaxAttemptsThenTheCommandIsDead() async throws {
        let h = counterHarness(maxAttempts: 3) { _ in Counter.error("database down", retryable: true) }
        let reply = try await h.running { try await h.evento.submit(addDraft("c1"), wait: .seconds(30)) }
        let (record, events) = try #require(reply.finishedResult)
        #expect(record.status == .dead && record.attempts == 3)
        #expect(record.lastError?.contains("database down") == true)
        #expect(events.isEmpty)
        #expect(h.functions.calls(to: "counter-handler").map { $0["command"]?["attempt"] } == [1, 2, 3])
        #expect(try await h.memory.deadCommands(limit: 10) == [record])
        #expect(h.store.writes == ["recordFailure", "recordFailure", "recordFailure"], "the first failure logs it; no events")
        #expect(try await h.memory.headPosition() == 0)
    }

    @Test func aFailureThatClearsOnRetrySucceedsOnTheNextAttempt() async throws {
        let calls = Locked(0)
        let h = counterHarness { request in
            let call = calls.withLock { c in
                c += 1
                return c
            }
            return call == 1 ? Counter.error("blip", retryable: true) : Counter.handle(request)
        }
        let reply = try await h.running { try await h.evento.submit(addDraft("c1"), wait: .seconds(30)) }
        let (record, events) = try #require(reply.finishedResult)
        #expect(record.status == .succeeded && record.attempts == 2 && record.lastError == nil)
        #expect(events.map(\.sequence) == [1])
        #expect(h.store.writes == ["recordFailure", "complete"])
    }

    @Test func aFailureThatIsNotRetryableKillsTheCommandAtOnce() async throws {
        let h = counterHarness(maxAttempts: 5) { _ in Counter.error("insufficient funds is an event, not an error", retryable: false) }
        let reply = try await h.running { try await h.evento.submit(addDraft("c1"), wait: .seconds(30)) }
        let (record, _) = try #require(reply.finishedResult)
        #expect(record.status == .dead && record.attempts == 1)
        #expect(h.functions.calls(to: "counter-handler").count == 1)
    }

    @Test func aVersionConflictReRunsTheHandlerOnTheFreshState() async throws {
        let h = PipelineHarness()
        let memory = h.memory
        let calls = Locked(0)
        h.functions.register(.fake("counter-handler", .handler, aggregate: "counter")) { request in
            if calls.withLock({ c in c += 1; return c }) == 1 {
                // Another writer appends to the entity while the handler runs.
                _ = try await memory.append([NewEvent(id: "foreign", entity: counter1, type: "Added", payload: RawJSON(["n": 100]))])
            }
            return Counter.handle(request)
        }
        h.functions.register(.fake("counter-aggregator", .aggregator, aggregate: "counter")) { Counter.fold($0) }
        let reply = try await h.running { try await h.evento.submit(addDraft("c1", n: 5), wait: .seconds(30)) }
        let (record, events) = try #require(reply.finishedResult)
        #expect(record.status == .succeeded && record.attempts == 1, "a conflict is not a failed attempt")
        #expect(events.map(\.sequence) == [2])
        let handled = h.functions.calls(to: "counter-handler")
        try #require(handled.count == 2)
        #expect(handled[0]["aggregate"]?["version"] == 0)
        #expect(handled[1]["aggregate"]?["version"] == 1 && handled[1]["aggregate"]?["state"] == ["total": 100], "the fresh state, caught up")
        #expect(try await h.memory.snapshot(of: counter1) == Snapshot(entity: counter1, version: 2, state: RawJSON(["total": 105])))
        #expect(h.store.writes.filter { $0 == "complete" }.count == 1)
    }

    @Test func anUnloggedCommandIsLoggedWithItsResultByItsCompletion() async throws {
        let h = counterHarness()
        let record = NewCommand(
            id: "c1", entity: counter1, type: "Add", payload: RawJSON(["n": 1]), causationId: "evt-x", causationKind: .event,
            correlationId: "corr", traceparent: nil
        ).record(at: .now())
        let done = try await h.running {
            guard case .queued = h.evento.processor.enqueueUnlogged(record) else {
                Issue.record("c1 was not queued")
                throw CancellationError()
            }
            return try await h.finished("c1")
        }
        #expect(done.status == .succeeded && done.correlationId == "corr" && done.causationId == "evt-x")
        #expect(h.store.writes == ["complete"])
        #expect(try await h.memory.items(causedBy: "evt-x", limit: 10).map(\.id) == ["c1"])
        #expect(try await h.memory.pendingCommands(afterSeq: 0, limit: 10).isEmpty)
    }

    @Test func aWaitThatEndsFirstLogsTheCommandBeforeAnsweringAndItStillFinishesOnce() async throws {
        let gate = Gate()
        defer { gate.open() }
        let h = counterHarness { request in
            await gate.wait()
            return Counter.handle(request)
        }
        let (reply, done) = try await h.running {
            let reply = try await h.evento.submit(addDraft("c1"), wait: .milliseconds(20))
            let logged = try await h.memory.command(id: "c1")
            #expect(logged?.status == .pending, "logged before the answer says accepted")
            gate.open()
            return (reply, try await h.finished("c1"))
        }
        #expect(reply.acceptedRecord?.status == .pending)
        #expect(done.status == .succeeded && done.resultEventIds.count == 1)
        #expect(h.store.writes == ["submit", "complete"])
        #expect(h.functions.calls(to: "counter-handler").count == 1)
    }

    @Test func anIdReusedWhileItsCommandIsStillQueuedIsRefusedOrJoined() async throws {
        let gate = Gate()
        defer { gate.open() }
        let h = counterHarness { request in
            await gate.wait()
            return Counter.handle(request)
        }
        try await h.running {
            // c1 (n: 1) is logged and held at its handler call.
            _ = try #require(try await h.evento.submit(addDraft("c1", n: 1), wait: nil).acceptedRecord)
            try await eventually("c1 at its handler") { h.functions.calls(to: "counter-handler").isEmpty ? nil : true }
            // The same id with another payload, waited for: another command, refused at once.
            let refused = try await #require(throws: IdempotencyConflict.self) {
                try await h.evento.submit(addDraft("c1", n: 2), wait: .seconds(30))
            }
            #expect(refused.differentPayload)
            // The same command again, waited for: it joins c1 and gets c1's outcome.
            let joined = Task { try await h.evento.submit(addDraft("c1", n: 1), wait: .seconds(30)) }
            try await eventually("the second c1 waits") { h.evento.processor.completions.count >= 1 ? true : nil }
            gate.open()
            let (record, events) = try #require(try await joined.value.finishedResult)
            #expect(record.status == .succeeded && events.count == 1)
        }
        #expect(h.functions.calls(to: "counter-handler").count == 1, "the command ran once")
        #expect(try await h.memory.headPosition() == 1)
    }

    @Test func aCommandLoggedUnderTheIdOfAQueuedUnloggedOneRunsOnceThatOneIsRefused() async throws {
        let gate = Gate()
        defer { gate.open() }
        let h = counterHarness { request in
            await gate.wait()
            return Counter.handle(request)
        }
        try await h.running {
            // A waited-for c1 (n: 2), not logged yet, is held at its handler call...
            let waited = Task { try await h.evento.submit(addDraft("c1", n: 2), wait: .seconds(30)) }
            try await eventually("the waited c1 at its handler") { h.functions.calls(to: "counter-handler").isEmpty ? nil : true }
            // ...when a c1 (n: 1) is accepted without waiting: the log holds that one.
            _ = try #require(try await h.evento.submit(addDraft("c1", n: 1), wait: nil).acceptedRecord)
            gate.open()
            let refused = try await #require(throws: IdempotencyConflict.self) { try await waited.value }
            #expect(refused.differentPayload)
            // The accepted one runs (it was in no lane while the other held the id).
            let done = try await h.finished("c1")
            #expect(done.status == .succeeded)
        }
        let stored = try #require(try await h.memory.command(id: "c1"))
        #expect(try stored.payload.value() == ["n": 1])
        #expect(try await h.memory.headPosition() == 1)
    }

    @Test func pendingCommandsOfTheLogRunAtStartInAcceptanceOrder() async throws {
        let h = counterHarness()
        _ = try await h.memory.submit((0..<3).map { i in
            NewCommand(
                id: "c\(i)", entity: counter1, type: "Add", payload: RawJSON(["n": .int(Int64(i))]), causationId: nil, causationKind: .external,
                correlationId: "c\(i)", traceparent: nil)
        })
        let statuses = try await h.running {
            var statuses: [CommandStatus] = []
            for i in 0..<3 { statuses.append(try await h.finished("c\(i)").status) }
            return statuses
        }
        #expect(statuses == [.succeeded, .succeeded, .succeeded])
        #expect(h.functions.calls(to: "counter-handler").map { $0["command"]?["id"] } == ["c0", "c1", "c2"])
    }
}

// MARK: Evento

@Suite struct EventoSubmitTests {
    @Test func aCommandIsAcceptedThenFinishesAndAResubmissionAnswersWithItsResult() async throws {
        let h = counterHarness()
        try await h.running {
            let accepted = try #require(try await h.evento.submit(addDraft("c1", n: 4), wait: nil).acceptedRecord)
            #expect(accepted.status == .pending && accepted.attempts == 0)
            let done = try await h.finished("c1")
            #expect(done.status == .succeeded)
            let (again, events) = try #require(try await h.evento.submit(addDraft("c1", n: 4), wait: nil).finishedResult)
            #expect(again == done)
            #expect(events.map(\.id) == done.resultEventIds, "its events, read back")
            let (waited, _) = try #require(try await h.evento.submit(addDraft("c1", n: 4), wait: .seconds(30)).finishedResult)
            #expect(waited == done, "waiting for it again answers the stored result")
        }
        #expect(try await h.memory.headPosition() == 1, "the command's events were written once")
    }

    @Test func aCommandIdReusedWithAnotherPayloadIsRefusedWhetherTheClientWaitsOrNot() async throws {
        let h = counterHarness()
        try await h.running {
            _ = try await h.evento.submit(addDraft("c1", n: 1), wait: .seconds(30))
            let unwaited = try await #require(throws: IdempotencyConflict.self) { try await h.evento.submit(addDraft("c1", n: 2), wait: nil) }
            #expect(unwaited.kind == .command && unwaited.differentPayload)
            let waited = try await #require(throws: IdempotencyConflict.self) {
                try await h.evento.submit(addDraft("c1", n: 2), wait: .seconds(30))
            }
            #expect(waited.kind == .command && waited.differentPayload)
        }
        #expect(try await h.memory.headPosition() == 1)
        #expect(try await h.memory.command(id: "c1").map { try $0.payload.value() } == ["n": 1])
    }

    @Test func aCommandForAnAggregateWithoutAHandlerIsRefusedBeforeAnythingIsLogged() async throws {
        let h = counterHarness()
        let error = try await #require(throws: EventoError.self) {
            try await h.evento.submit(CommandDraft(id: "c1", entity: try EntityId(parsing: "ghost:1"), type: "Boo", payload: [:]), wait: nil)
        }
        #expect(error.code == .unknownReference)
        #expect(h.store.writes.isEmpty)
    }
}

// MARK: Aggregates

@Suite struct AggregatesTests {
    func aggregates(_ h: PipelineHarness) -> Aggregates {
        Aggregates(store: h.memory, functions: h.functions, validator: AcceptAllValidator(), logger: PipelineHarness.quietLogger)
    }

    func added(_ entity: EntityId, _ ns: ClosedRange<Int64>) -> [NewEvent] {
        ns.map { n in NewEvent(id: "\(entity)-\(n)", entity: entity, type: "Added", payload: RawJSON(["n": .int(n)])) }
    }

    @Test func aLaggingSnapshotIsCaughtUpThroughTheAggregatorAndSaved() async throws {
        let h = counterHarness()
        _ = try await h.memory.append(added(counter1, 1...5))
        try await h.memory.save(Snapshot(entity: counter1, version: 2, state: RawJSON(["total": 3])))
        let aggregates = aggregates(h)
        let current = try await aggregates.current(counter1)
        #expect(current.version == 5 && current.state == RawJSON(["total": 15]))
        let folds = h.functions.calls(to: "counter-aggregator")
        try #require(folds.count == 1)
        #expect(folds[0]["aggregate"]?["version"] == 2 && folds[0]["aggregate"]?["state"] == ["total": 3], "from the snapshot")
        #expect(folds[0]["events"]?.arrayValue?.map { $0["sequence"] } == [3, 4, 5], "only the events it lacks")
        #expect(try await h.memory.snapshot(of: counter1) == Snapshot(entity: counter1, version: 5, state: RawJSON(["total": 15])))
        _ = try await aggregates.current(counter1)
        #expect(h.functions.calls(to: "counter-aggregator").count == 1, "caught up once; then in memory")
    }

    @Test func anAggregateWithoutSnapshotIsFoldedFromItsFirstEvent() async throws {
        let h = counterHarness()
        let entity = try EntityId(parsing: "counter:new")
        _ = try await h.memory.append(added(entity, 1...3))
        let current = try await aggregates(h).current(entity)
        #expect(current.version == 3 && current.state == RawJSON(["total": 6]))
        #expect(h.functions.calls(to: "counter-aggregator").first?["aggregate"]?["state"] == .null)
    }
}

// MARK: DispatchRelay

@Suite struct DispatchRelayTests {
    /// A counter whose `Added` events a `notify` dispatcher turns into `Record` commands to `audit:ID`, and
    /// a `broken` dispatcher that fails for good on them.
    func auditedCounter() -> PipelineHarness {
        let h = counterHarness()
        h.functions.register(.fake("audit-handler", .handler, aggregate: "audit")) { _ in ["events": [["type": "Recorded", "payload": [:]]]] }
        h.functions.register(.fake("notify", .dispatcher, events: ["Added"])) { request in
            let event = request["event"] ?? .null
            let id = event["entity"]?.stringValue?.split(separator: ":").last.map(String.init) ?? "?"
            return ["commands": [["entity": .string("audit:\(id)"), "type": "Record", "payload": ["of": event["id"] ?? .null]]]]
        }
        h.functions.register(.fake("broken", .dispatcher, events: ["counter.Added"], maxAttempts: 3)) { _ in
            Counter.error("cannot dispatch", retryable: false)
        }
        return h
    }

    @Test func derivedCommandsGetDeterministicIdsAndAFailingDispatcherParksADeadDispatchWhileOthersGoOn() async throws {
        let h = auditedCounter()
        let ids = h.memory.idDerivation
        let (source, derived, dead) = try await h.running {
            let (_, events) = try #require(try await h.evento.submit(addDraft("c1"), wait: .seconds(30)).finishedResult)
            let source = try #require(events.first)
            let derived = try await h.finished(ids.commandId(event: source.id, dispatcher: "notify", index: 0))
            let dead = try await eventually("the dead dispatch") {
                try await h.memory.deadDispatch(id: ids.id("dead-dispatch", source.id, "broken"))
            }
            return (source, derived, dead)
        }
        let audit1 = try EntityId(parsing: "audit:1")
        #expect(derived.entity == audit1 && derived.type == "Record" && derived.status == .succeeded)
        #expect(derived.causationId == source.id && derived.causationKind == .event && derived.correlationId == source.correlationId)
        #expect(try derived.payload.value() == ["of": .string(source.id)])
        #expect(dead.dispatcher == "broken" && dead.eventId == source.id && dead.attempts == 1)
        #expect(dead.lastError.contains("cannot dispatch"))
        #expect(try await h.memory.cursor(DispatchRelay.cursorName("notify")) ?? 0 >= source.position)
        #expect(h.functions.calls(to: "broken").count == 1, "not retried: the error said so")
        // A step redone (after a crash): the same ids, so nothing new.
        let notify = try #require(h.functions.function(named: "notify"))
        let again = try await h.evento.relay.dispatchOnce(source, notify)
        #expect(again.map(\.id) == [derived.id])
        #expect(try await h.memory.commit(DispatchCommit(cursorName: "", position: 0, commands: again, deadDispatches: [])).isEmpty)
    }

    @Test func retryingADeadDispatchThatNowWorksQueuesItsCommandsAndRemovesIt() async throws {
        let h = auditedCounter()
        let ids = h.memory.idDerivation
        try await h.running {
            let (_, events) = try #require(try await h.evento.submit(addDraft("c1"), wait: .seconds(30)).finishedResult)
            let source = try #require(events.first)
            let deadId = ids.id("dead-dispatch", source.id, "broken")
            _ = try await eventually("the dead dispatch") { try await h.memory.deadDispatch(id: deadId) }
            h.functions.register(.fake("broken", .dispatcher, events: ["counter.Added"])) { _ in
                ["commands": [["entity": "audit:fixed", "type": "Record", "payload": [:]]]]
            }
            guard case .dispatch(let commands) = try await h.evento.retryDeadLetter(id: deadId) else {
                Issue.record("expected a dispatch retry")
                return
            }
            #expect(commands.map(\.id) == [ids.commandId(event: source.id, dispatcher: "broken", index: 0)])
            let derived = try #require(commands.first)
            #expect(try await h.finished(derived.id).status == .succeeded)
            #expect(try await h.memory.deadDispatch(id: deadId) == nil)
        }
    }
}

// MARK: Waiters

/// What `WaitersTests` (beside `LaneSchedulerTests`) leaves out.
@Suite struct WaiterKeyTests {
    @Test func aCheckThatFindsTheValueAnswersAtOnce() async throws {
        let waiters = Waiters<Int>()
        #expect(await waiters.wait(for: "k", timeout: .seconds(5)) { 9 } == 9)
        #expect(waiters.count == 0)
    }

    @Test func everyWaiterOfAKeyGetsTheValueAndOtherKeysKeepWaiting() async throws {
        let waiters = Waiters<Int>()
        async let a = waiters.wait(for: "k", timeout: .seconds(5)) { nil }
        async let b = waiters.wait(for: "k", timeout: .seconds(5)) { nil }
        async let other = waiters.wait(for: "other", timeout: .seconds(5)) { nil }
        try await eventually("three waiters registered") { waiters.count == 3 ? true : nil }
        waiters.resolve("k", with: 1)
        #expect(await a == 1)
        #expect(await b == 1)
        #expect(waiters.count == 1, "the other key's waiter still waits")
        waiters.resolve("other", with: 2)
        #expect(await other == 2)
        #expect(waiters.count == 0)
    }

    @Test func aValueResolvedWithNobodyWaitingIsNotKept() async throws {
        let waiters = Waiters<Int>()
        waiters.resolve("k", with: 1)
        #expect(waiters.count == 0)
        // Outcomes are not stored: a late waiter learns them from its check (the store), not from the table.
        #expect(await waiters.wait(for: "k", timeout: .milliseconds(20)) { nil } == nil)
    }
}
