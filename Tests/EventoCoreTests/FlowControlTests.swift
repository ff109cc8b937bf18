import EventoCore
import EventoStore
import Testing

/// The command backlog is bounded: beyond it clients get `overloaded` (429 with Retry-After) and nothing
/// accepted is dropped.
@Suite struct FlowControlTests {
    @Test func beyondTheBacklogNewCommandsAndEventsAreRefusedAndEverythingAcceptedStillRuns() async throws {
        var configuration = PipelineHarness.fast
        configuration.maxBacklog = 5
        let h = PipelineHarness(configuration: configuration)
        let gate = Gate()
        h.functions.register(.fake("counter-handler", .handler, aggregate: "counter")) { request in
            await gate.wait()
            return Counter.handle(request)
        }
        h.functions.register(.fake("counter-aggregator", .aggregator, aggregate: "counter")) { Counter.fold($0) }
        try await h.running {
            for i in 0..<5 {
                _ = try await h.evento.submit(addDraft("c\(i)", to: try EntityId(parsing: "counter:\(i)")), wait: nil)
            }
            try await eventually("five in the backlog") { h.evento.processor.backlog == 5 ? true : nil }
            await #expect { try await h.evento.submit(addDraft("c5"), wait: nil) } throws: { e in
                guard let e = e as? EventoError else { return false }
                return e.code == .overloaded && e.retryAfterSeconds == 1 && e.message.contains("--max-backlog")
            }
            await #expect { try await h.evento.submit(addDraft("c6"), wait: .seconds(1)) } throws: { ($0 as? EventoError)?.code == .overloaded }
            await #expect {
                try await h.evento.publish([EventDraft(id: "e1", entity: try EntityId(parsing: "counter:9"), type: "Added", payload: ["n": 1])])
            } throws: { ($0 as? EventoError)?.code == .overloaded }
            #expect(try await h.memory.command(id: "c5") == nil, "a refused command is not logged")
            gate.open()
            for i in 0..<5 { #expect(try await h.finished("c\(i)").status == .succeeded) }
            // Drained: accepted again.
            try await eventually("drained") { h.evento.processor.backlog == 0 ? true : nil }
            let again = try await h.evento.submit(addDraft("c7"), wait: .seconds(30))
            #expect(again.finishedResult?.0.status == .succeeded)
        }
    }

    @Test func theBacklogIsAlsoBoundedByPayloadBytes() async throws {
        var configuration = PipelineHarness.fast
        configuration.maxBacklogBytes = 100
        let h = PipelineHarness(configuration: configuration)
        let gate = Gate()
        h.functions.register(.fake("counter-handler", .handler, aggregate: "counter")) { request in
            await gate.wait()
            return Counter.handle(request)
        }
        try await h.running {
            let big = CommandDraft(id: "big", entity: counter1, type: "Add", payload: ["n": 1, "pad": .string(String(repeating: "x", count: 200))])
            _ = try await h.evento.submit(big, wait: nil)
            try await eventually("queued") { h.evento.processor.backlog == 1 ? true : nil }
            await #expect { try await h.evento.submit(addDraft("small"), wait: nil) } throws: { e in
                (e as? EventoError)?.code == .overloaded && "\(e)".contains("--max-backlog-bytes")
            }
            gate.open()
            #expect(try await h.finished("big").status == .succeeded)
            try await eventually("drained") { h.evento.processor.overloaded() == nil ? true : nil }
        }
    }

    /// Commands held for later are kept in memory until due: a client may not schedule without bound (before,
    /// timers counted in no bound, so a flood of `delayMs` commands grew memory and never met a 429). Their
    /// payload bytes are bounded too; commands due now are still accepted at either timer bound (a timer may
    /// wait for years: it must not lock out the work due now).
    @Test func scheduledCommandsAreBoundedByCountAndTheirBytesCount() async throws {
        var configuration = PipelineHarness.fast
        configuration.maxScheduled = 3
        configuration.maxBacklogBytes = 2_000
        let bounded = PipelineHarness(configuration: configuration)
        bounded.functions.register(.fake("counter-handler", .handler, aggregate: "counter")) { Counter.handle($0) }
        bounded.functions.register(.fake("counter-aggregator", .aggregator, aggregate: "counter")) { Counter.fold($0) }
        let later = Timestamp(millisecondsSinceEpoch: Timestamp.now().millisecondsSinceEpoch + 3_600_000)
        func scheduled(_ id: String, pad: Int = 0) -> CommandDraft {
            CommandDraft(id: id, entity: counter1, type: "Add", payload: ["n": 1, "pad": .string(String(repeating: "x", count: pad))], notBefore: later)
        }
        try await bounded.running {
            for i in 0..<3 { _ = try await bounded.evento.submit(scheduled("s\(i)"), wait: nil) }
            try await eventually("three timers held") { bounded.evento.processor.scheduled == 3 ? true : nil }
            await #expect { try await bounded.evento.submit(scheduled("s3"), wait: nil) } throws: { e in
                guard let e = e as? EventoError else { return false }
                return e.code == .overloaded && e.retryAfterSeconds == 1 && e.message.contains("3 commands are scheduled") && e.message.contains("--max-scheduled")
            }
            #expect(try await bounded.memory.command(id: "s3") == nil, "a refused command is not logged")
            // A command due now is not held by a timer: accepted and run.
            let now = try await bounded.evento.submit(addDraft("now", to: try EntityId(parsing: "counter:2")), wait: .seconds(30))
            #expect(now.finishedResult?.0.status == .succeeded)
        }
        // The bytes of held commands are bounded for further scheduled commands, not for commands due now.
        var bytesOnly = PipelineHarness.fast
        bytesOnly.maxBacklogBytes = 1_000
        let b = PipelineHarness(configuration: bytesOnly)
        b.functions.register(.fake("counter-handler", .handler, aggregate: "counter")) { Counter.handle($0) }
        try await b.running {
            _ = try await b.evento.submit(scheduled("big", pad: 1_500), wait: nil)
            try await eventually("held") { b.evento.processor.scheduled == 1 ? true : nil }
            await #expect { try await b.evento.submit(scheduled("more"), wait: nil) } throws: { e in
                (e as? EventoError)?.code == .overloaded && "\(e)".contains("scheduled for later hold") && "\(e)".contains("--max-backlog-bytes")
            }
            let due = try await b.evento.submit(addDraft("small", to: try EntityId(parsing: "counter:2")), wait: .seconds(30))
            #expect(due.finishedResult?.0.status == .succeeded)
        }
    }
}
