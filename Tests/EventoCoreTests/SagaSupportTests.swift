import EventoCore
import EventoStore
import Testing

/// Durable timers: commands with `notBefore` / `delayMs`.
@Suite struct SchedulingTests {
    static func later(_ ms: Int64) -> Timestamp { Timestamp(millisecondsSinceEpoch: Timestamp.now().millisecondsSinceEpoch + ms) }

    // Timers an hour away where a test needs one not to run: how long a loaded machine stalls this process
    // then does not matter.

    @Test func aScheduledCommandWaitsOutsideItsLaneAndLetsLaterCommandsPass() async throws {
        let h = counterHarness()
        var scheduled = addDraft("scheduled", n: 2)
        let due = Self.later(3_600_000)
        scheduled.notBefore = due
        try await h.running {
            let accepted = try #require(try await h.evento.submit(scheduled, wait: nil).acceptedRecord)
            #expect(accepted.shownStatus == "scheduled" && accepted.notBefore == due)
            // A command sent after it, to the same entity, is not held behind it.
            let first = try #require(try await h.evento.submit(addDraft("now", n: 1), wait: .seconds(30)).finishedResult)
            #expect(first.0.status == .succeeded && first.1.first?.sequence == 1)
            #expect(try await h.memory.command(id: "scheduled")?.shownStatus == "scheduled", "not run before it is due")
            #expect(h.evento.processor.scheduled == 1)
        }
    }

    @Test func aScheduledCommandRunsWhenDueAndNotBefore() async throws {
        let h = counterHarness()
        var scheduled = addDraft("scheduled", n: 2)
        let due = Self.later(300)
        scheduled.notBefore = due
        let done = try await h.running {
            _ = try await h.evento.submit(scheduled, wait: nil)
            return try await h.finished("scheduled", within: .seconds(30))
        }
        #expect(done.status == .succeeded && done.shownStatus == "succeeded")
        let events = try await h.memory.events(entity: counter1, fromSequence: 1, limit: 10)
        #expect(events.map(\.causationId) == ["scheduled"])
        #expect(events[0].time >= due, "ran at \(events[0].time), due \(due)")
        #expect(try await h.memory.snapshot(of: counter1)?.state == RawJSON(["total": 2]))
    }

    @Test func aScheduledCommandThatIsWaitedForAnswersItsUniqueConflict() async throws {
        // Counters whose totals are unique: two counters may not both stand at 5.
        let h = PipelineHarness(validator: StubValidator(unique: ["counter": [UniqueField(name: "total", casefold: false)]]))
        h.functions.register(.fake("counter-handler", .handler, aggregate: "counter")) { Counter.handle($0) }
        h.functions.register(.fake("counter-aggregator", .aggregator, aggregate: "counter")) { Counter.fold($0) }
        try await h.running {
            #expect(try await h.evento.submit(addDraft("one", n: 5), wait: .seconds(30)).finishedResult?.0.status == .succeeded)
            var timed = addDraft("two", to: try EntityId(parsing: "counter:2"), n: 5)
            timed.notBefore = Self.later(200)
            await #expect { try await h.evento.submit(timed, wait: .seconds(30)) } throws: { e in
                guard let e = e as? EventoError else { return false }
                return e.code == .conflict && e.field == "total" && e.message.contains("counter:1")
            }
            #expect(try await h.memory.command(id: "two")?.status == .failed)
        }
    }

    @Test func timersThatArriveEarliestLastLeaveOneTimerTask() async throws {
        let h = counterHarness()
        try await h.running {
            _ = try await h.evento.submit(addDraft("first"), wait: .seconds(30))  // recovered: timers arm one by one
            // Each arrives earlier than the one before: each arms a timer task of its own.
            for (id, ms) in [("hour", 3_600_000), ("b", 600), ("a", 300)] as [(String, Int64)] {
                var d = addDraft(id, to: try EntityId(parsing: "counter:\(id)"))
                d.notBefore = Self.later(ms)
                _ = try await h.evento.submit(d, wait: nil)
            }
            _ = try await h.finished("a", within: .seconds(30))
            _ = try await h.finished("b", within: .seconds(30))
            // The replaced tasks ended without arming again: one task waits for the hour.
            try await eventually("one timer task left") { h.evento.processor.timerTasks == 1 ? true : nil }
            try await Task.sleep(for: .milliseconds(1500))
            #expect(h.evento.processor.timerTasks == 1)
            #expect(h.evento.processor.scheduled == 1)
        }
    }

    @Test func scheduledCommandsInTheLogAtStartAreHeldAndOthersAreNot() async throws {
        let h = counterHarness()
        let due = Self.later(3_600_000)
        var timed = NewCommand(CommandRecord(
            id: "timed", entity: counter1, type: "Add", payload: RawJSON(["n": 5]), causationId: nil, causationKind: .external,
            correlationId: "timed", traceparent: nil, createdAt: .now(), updatedAt: .now()))
        timed.notBefore = due
        var plain = timed
        plain.id = "plain"
        plain.notBefore = nil
        plain.payload = RawJSON(["n": 1])
        _ = try await h.memory.submit([timed, plain])  // accepted before a restart: both pending
        try await h.running {
            // The timer's elder in the log does not hold the plain command back.
            #expect(try await h.finished("plain", within: .seconds(30)).status == .succeeded)
            #expect(try await h.memory.command(id: "timed")?.shownStatus == "scheduled")
            try await eventually("the timer is held") { h.evento.processor.scheduled == 1 ? true : nil }
        }
        #expect(try await h.memory.events(entity: counter1, fromSequence: 1, limit: 10).map(\.causationId) == ["plain"])
    }

    @Test func aDispatcherMayReturnADelayedCommand() async throws {
        let h = counterHarness()
        h.functions.register(.fake("audit-handler", .handler, aggregate: "audit")) { _ in ["events": [["type": "Recorded", "payload": [:]]]] }
        h.functions.register(.fake("later", .dispatcher, events: ["counter.Added"])) { _ in
            ["commands": [["entity": "audit:1", "type": "Record", "payload": [:], "delayMs": 3_600_000]]]
        }
        let ids = h.memory.idDerivation
        try await h.running {
            let (_, events) = try #require(try await h.evento.submit(addDraft("c1"), wait: .seconds(30)).finishedResult)
            let source = try #require(events.first)
            let id = ids.commandId(event: source.id, dispatcher: "later", index: 0)
            let logged = try await eventually("the delayed command is logged") { try await h.memory.command(id: id) }
            #expect(logged.shownStatus == "scheduled" && logged.causationId == source.id)
            let notBefore = try #require(logged.notBefore)
            #expect(notBefore.millisecondsSinceEpoch >= source.time.millisecondsSinceEpoch + 3_600_000)
            try await eventually("the timer is held") { h.evento.processor.scheduled == 1 ? true : nil }
        }
        #expect(try await h.memory.events(entity: try EntityId(parsing: "audit:1"), fromSequence: 1, limit: 1).isEmpty)
    }

    @Test func scheduleFieldsAreReadStrictly() throws {
        func parse(_ extra: [String: JSONValue]) throws(EventoError) -> CommandDraft {
            var body: JSONObject = ["entity": "counter:1", "type": "Add", "payload": [:]]
            for (k, v) in extra { body[k] = v }
            return try SubmissionParser.command(.object(body))
        }
        #expect(try parse(["delayMs": 1000]).notBefore != nil)
        #expect(try parse(["delayMs": 0]).notBefore == nil)
        #expect(try parse(["notBefore": "2001-01-01T00:00:00Z"]).notBefore == nil, "a time already past runs at once")
        #expect(try parse(["notBefore": "2999-01-01T00:00:00.5+01:00"]).notBefore?.description == "2998-12-31T23:00:00.500Z")
        for (bad, field) in [
            (["notBefore": JSONValue.string("tomorrow")], "notBefore"), (["notBefore": "2026-02-30T00:00:00Z"], "notBefore"),
            (["delayMs": -1], "delayMs"), (["delayMs": 1.5], "delayMs"), (["delayMs": 10, "notBefore": "2999-01-01T00:00:00Z"], "delayMs"),
        ] {
            #expect { try parse(bad) } throws: { ($0 as? EventoError)?.field == field }
        }
    }

    @Test(arguments: [
        ("2026-11-28T04:12:25Z", 1_795_839_145_000), ("2026-11-28T04:12:25.1Z", 1_795_839_145_100),
        ("2026-11-28t04:12:25.1234z", 1_795_839_145_124), ("2026-11-28T05:12:25+01:00", 1_795_839_145_000),
        ("1970-01-01T00:00:00Z", 0), ("2000-02-29T00:00:00Z", 951_782_400_000),
    ] as [(String, Int64)])
    func rfc3339(_ text: String, _ ms: Int64) {
        #expect(Timestamp(rfc3339: text)?.millisecondsSinceEpoch == ms)
    }

    /// The last and first instants of years 0001–9999 are accepted; an offset that moves the instant out of
    /// that range is refused (found by the fuzzing of the Avro validator, which shares the rule).
    @Test func theRangeHoldsForTheInstantNotOnlyTheText() {
        #expect(Timestamp(rfc3339: "9999-12-31T23:59:59.999Z")?.millisecondsSinceEpoch == 253_402_300_799_999)
        #expect(Timestamp(rfc3339: "0001-01-01T00:00:00Z")?.millisecondsSinceEpoch == -62_135_596_800_000)
        #expect(Timestamp(rfc3339: "9999-12-31T23:59:59-01:00") == nil)
        #expect(Timestamp(rfc3339: "0001-01-01T00:30:00+01:00") == nil)
        #expect(Timestamp(rfc3339: "9999-12-31T22:59:59-01:00")?.description == "9999-12-31T23:59:59.000Z")
    }

    @Test(arguments: ["2026-11-28 04:12:25Z", "2026-11-28T04:12:25", "2026-13-01T00:00:00Z", "2026-11-28T24:00:00Z", "2026-11-28T04:12:25.Z", "x"])
    func malformedRFC3339(_ text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }
}

/// A command whose schema says `"internal": true` comes only from dispatchers.
@Suite struct InternalCommandTests {
    @Test func anInternalCommandIsRefusedFromClientsAndAcceptedFromDispatchers() async throws {
        let h = PipelineHarness(validator: StubValidator(internalCommands: ["audit.Record"]))
        h.functions.register(.fake("counter-handler", .handler, aggregate: "counter")) { Counter.handle($0) }
        h.functions.register(.fake("audit-handler", .handler, aggregate: "audit")) { _ in ["events": [["type": "Recorded", "payload": [:]]]] }
        h.functions.register(.fake("notify", .dispatcher, events: ["counter.Added"])) { _ in
            ["commands": [["entity": "audit:1", "type": "Record", "payload": [:]]]]
        }
        let ids = h.memory.idDerivation
        try await h.running {
            let outside = CommandDraft(id: "sneaky", entity: try EntityId(parsing: "audit:1"), type: "Record", payload: [:])
            await #expect { try await h.evento.submit(outside, wait: .seconds(1)) } throws: { e in
                (e as? EventoError)?.code == .forbidden && (e as? EventoError)?.field == "type" && "\(e)".contains("Record")
            }
            #expect(try await h.memory.command(id: "sneaky") == nil, "nothing logged")
            let (_, events) = try #require(try await h.evento.submit(addDraft("c1"), wait: .seconds(30)).finishedResult)
            let derived = try await h.finished(ids.commandId(event: events[0].id, dispatcher: "notify", index: 0))
            #expect(derived.status == .succeeded && derived.type == "Record")
        }
    }
}

/// `wait=tree`: a command's whole causal tree, once settled.
@Suite struct CommandTreeTests {
    @Test func theTreeSettlesOnlyWhenEveryDescendantIsFinalAndEveryEventDispatched() async throws {
        let h = counterHarness()
        h.functions.register(.fake("audit-handler", .handler, aggregate: "audit")) { _ in ["events": [["type": "Recorded", "payload": [:]]]] }
        h.functions.register(.fake("review-handler", .handler, aggregate: "review")) { _ in ["events": [["type": "Reviewed", "payload": [:]]]] }
        // counter.Added → audit Record (after 300 ms) → audit.Recorded → review Review.
        h.functions.register(.fake("notify", .dispatcher, events: ["counter.Added"])) { _ in
            ["commands": [["entity": "audit:1", "type": "Record", "payload": [:], "delayMs": 300]]]
        }
        h.functions.register(.fake("reviewer", .dispatcher, events: ["audit.Recorded"])) { _ in
            ["commands": [["entity": "review:1", "type": "Review", "payload": [:]]]]
        }
        let tree = try await h.running {
            _ = try #require(try await h.evento.submit(addDraft("root"), wait: .seconds(30)).finishedResult)
            return try await h.evento.settledTree(of: "root", timeout: .seconds(30))
        }
        #expect(tree.settled && !tree.truncated)
        #expect(tree.command.id == "root")
        #expect(tree.events.map(\.type) == ["Added", "Recorded", "Reviewed"])
        #expect(tree.events.map(\.position) == tree.events.map(\.position).sorted())
        #expect(tree.commands.map(\.type) == ["Record", "Review"] && tree.commands.allSatisfy { $0.status == .succeeded })
    }

    @Test func anUnsettledTreeIsAnsweredAtTheDeadlineAsItStands() async throws {
        let h = counterHarness()
        h.functions.register(.fake("audit-handler", .handler, aggregate: "audit")) { _ in ["events": [["type": "Recorded", "payload": [:]]]] }
        h.functions.register(.fake("notify", .dispatcher, events: ["counter.Added"])) { _ in
            ["commands": [["entity": "audit:1", "type": "Record", "payload": [:], "delayMs": 60_000]]]
        }
        let tree = try await h.running {
            let (_, events) = try #require(try await h.evento.submit(addDraft("root"), wait: .seconds(30)).finishedResult)
            let derived = h.memory.idDerivation.commandId(event: events[0].id, dispatcher: "notify", index: 0)
            try await eventually("the delayed command is logged") { try await h.memory.command(id: derived) }
            return try await h.evento.settledTree(of: "root", timeout: .milliseconds(300))
        }
        #expect(!tree.settled)
        #expect(tree.commands.map { $0.shownStatus } == ["scheduled"])
    }
}
