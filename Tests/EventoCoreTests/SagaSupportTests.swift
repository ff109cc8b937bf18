import EventoCore
import EventoStore
import Testing

/// Durable timers: commands with `notBefore` / `delayMs`.
@Suite struct SchedulingTests {
    static func later(_ ms: Int64) -> Timestamp { Timestamp(millisecondsSinceEpoch: Timestamp.now().millisecondsSinceEpoch + ms) }

    @Test func aScheduledCommandWaitsOutsideItsLaneLetsLaterCommandsPassAndRunsWhenDue() async throws {
        let h = counterHarness()
        var scheduled = addDraft("scheduled", n: 2)
        let due = Self.later(5000)
        scheduled.notBefore = due
        let (accepted, first) = try await h.running {
            let accepted = try #require(try await h.evento.submit(scheduled, wait: nil).acceptedRecord)
            #expect(accepted.shownStatus == "scheduled")
            // A command sent after it, to the same entity, is not held behind it.
            let first = try #require(try await h.evento.submit(addDraft("now", n: 1), wait: .seconds(30)).finishedResult)
            #expect(try await h.memory.command(id: "scheduled")?.status == .pending, "not run before it is due")
            #expect(h.evento.processor.scheduled == 1)
            _ = try await h.finished("scheduled", within: .seconds(30))
            return (accepted, first)
        }
        #expect(accepted.notBefore == due)
        #expect(first.0.status == .succeeded && first.1.first?.sequence == 1)
        let events = try await h.memory.events(entity: counter1, fromSequence: 1, limit: 10)
        #expect(events.map(\.causationId) == ["now", "scheduled"])
        #expect(events[1].time >= due, "ran at \(events[1].time), due \(due)")
        #expect(try await h.memory.snapshot(of: counter1)?.state == RawJSON(["total": 3]))
        #expect(try await h.memory.command(id: "scheduled")?.shownStatus == "succeeded")
    }

    @Test func scheduledCommandsInTheLogAtStartAreHeldUntilDueAndOthersAreNot() async throws {
        let h = counterHarness()
        let due = Self.later(5000)
        var timed = NewCommand(CommandRecord(
            id: "timed", entity: counter1, type: "Add", payload: RawJSON(["n": 5]), causationId: nil, causationKind: .external,
            correlationId: "timed", traceparent: nil, createdAt: .now(), updatedAt: .now()))
        timed.notBefore = due
        var plain = timed
        plain.id = "plain"
        plain.notBefore = nil
        plain.payload = RawJSON(["n": 1])
        _ = try await h.memory.submit([timed, plain])  // accepted before a restart: both pending
        let (plainDone, timedDone) = try await h.running {
            let plainDone = try await h.finished("plain", within: .seconds(30))
            #expect(try await h.memory.command(id: "timed")?.status == .pending)
            return (plainDone, try await h.finished("timed", within: .seconds(30)))
        }
        #expect(plainDone.status == .succeeded && timedDone.status == .succeeded)
        let events = try await h.memory.events(entity: counter1, fromSequence: 1, limit: 10)
        #expect(events.map(\.causationId) == ["plain", "timed"])
        #expect(events[1].time >= due)
    }

    @Test func aDispatcherMayReturnADelayedCommand() async throws {
        let h = counterHarness()
        h.functions.register(.fake("audit-handler", .handler, aggregate: "audit")) { _ in ["events": [["type": "Recorded", "payload": [:]]]] }
        h.functions.register(.fake("later", .dispatcher, events: ["counter.Added"])) { _ in
            ["commands": [["entity": "audit:1", "type": "Record", "payload": [:], "delayMs": 500]]]
        }
        let ids = h.memory.idDerivation
        let (source, derived) = try await h.running {
            let (_, events) = try #require(try await h.evento.submit(addDraft("c1"), wait: .seconds(30)).finishedResult)
            let source = try #require(events.first)
            let id = ids.commandId(event: source.id, dispatcher: "later", index: 0)
            let logged = try await eventually("the delayed command is logged") { try await h.memory.command(id: id) }
            #expect(logged.isScheduled(at: logged.createdAt), "logged as scheduled")
            let notBefore = try #require(logged.notBefore)
            #expect(notBefore.millisecondsSinceEpoch >= source.time.millisecondsSinceEpoch + 500)
            return (source, try await h.finished(id, within: .seconds(30)))
        }
        #expect(derived.status == .succeeded && derived.causationId == source.id)
        let recorded = try #require(try await h.memory.events(entity: try EntityId(parsing: "audit:1"), fromSequence: 1, limit: 1).first)
        #expect(recorded.time >= derived.notBefore!)
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
        let (early, tree) = try await h.running {
            _ = try #require(try await h.evento.submit(addDraft("root"), wait: .seconds(30)).finishedResult)
            let early = try await h.evento.tree(of: "root")
            return (early, try await h.evento.settledTree(of: "root", timeout: .seconds(10)))
        }
        #expect(!early.settled, "the delayed command is still scheduled")
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
