@testable import EventoCore
import Testing

/// OpenTelemetry's samplers as Evento applies them: decided from the trace id, the same way at every hop.
@Suite struct TraceSamplerTests {
    func parent(_ traceId: String, sampled: Bool) -> TraceParent {
        TraceParent("00-\(traceId)-00f067aa0ba902b7-\(sampled ? "01" : "00")")!
    }

    @Test(arguments: [0.0, 0.1, 0.25, 0.5, 1.0])
    func aRatioRecordsThatShareOfNewTraces(ratio: Double) {
        let sampler = TraceSampler(ratio: ratio, parentBased: true)
        let n = 20_000
        var random = SystemRandomNumberGenerator()
        var picked = 0
        for _ in 0..<n {
            let id = (0..<32).map { _ in String(UInt8.random(in: 0...15, using: &random), radix: 16) }.joined()
            if sampler.samples(parent(id, sampled: true)) { picked += 1 }
        }
        let share = Double(picked) / Double(n)
        #expect(abs(share - ratio) < 0.02, "ratio \(ratio): \(picked) of \(n) picked")
        if ratio == 0 { #expect(picked == 0) }
        if ratio == 1 { #expect(picked == n) }
    }

    @Test func theDecisionIsTheTraceIdsLastEightBytesAgainstTheRatio() {
        let half = TraceSampler(ratio: 0.5, parentBased: false)
        // The last 8 bytes, shifted right once, below 2^62 (half of 2^63): recorded; from 2^63 on (shifted: 2^62), not.
        #expect(half.samples(parent("ffffffffffffffff3fffffffffffffff", sampled: false)))
        #expect(!half.samples(parent("00000000000000008000000000000000", sampled: false)))
        // The first 8 bytes play no part.
        #expect(half.samples(parent("00000000000000010000000000000001", sampled: false)))
        #expect(!TraceSampler(ratio: 0, parentBased: false).samples(parent("00000000000000010000000000000001", sampled: false)))
    }

    func recorded(_ d: TraceSampler.Decision) -> TraceParent? { if case .record(let c) = d { c } else { nil } }

    @Test func aParentBasedSamplerFollowsTheParentsFlagWhateverTheRatio() throws {
        let never = TraceSampler(ratio: 0, parentBased: true)
        let child = try #require(recorded(never.decision(under: parent("4bf92f3577b34da6a3ce929d0e0e4736", sampled: true))))
        #expect(child.traceId == "4bf92f3577b34da6a3ce929d0e0e4736" && child.flags == "01")
        #expect(child.parentId != "00f067aa0ba902b7", "the span has an id of its own")
        #expect(TraceSampler(ratio: 1, parentBased: true).decision(under: parent("4bf92f3577b34da6a3ce929d0e0e4736", sampled: false)) == .passAsItCame)
    }

    @Test func aSamplerThatIsNotParentBasedDecidesByTheTraceIdAndFlagsWhatItRecordsOrDrops() throws {
        let always = TraceSampler(ratio: 1, parentBased: false)
        let kept = try #require(recorded(always.decision(under: parent("4bf92f3577b34da6a3ce929d0e0e4736", sampled: false))))
        #expect(kept.flags == "01", "what it records is propagated as sampled")
        // Dropped under a sampled parent: what follows carries the trace flagged not sampled.
        guard case .drop(let dropped) = TraceSampler(ratio: 0, parentBased: false).decision(under: parent("4bf92f3577b34da6a3ce929d0e0e4736", sampled: true)) else {
            Issue.record("a dropped span under a sampled parent changes the flag")
            return
        }
        #expect(dropped.traceId == "4bf92f3577b34da6a3ce929d0e0e4736" && dropped.flags == "00")
        #expect(TraceSampler(ratio: 0, parentBased: false).decision(under: parent("4bf92f3577b34da6a3ce929d0e0e4736", sampled: false)) == .passAsItCame)
        // Every hop of one trace decides the same way.
        let half = TraceSampler(ratio: 0.5, parentBased: false)
        for id in ["4bf92f3577b34da6a3ce929d0e0e4736", "5bf92f3577b34da6a3ce929d0e0e4737", "0af7651916cd43dd8448eb211c80319d"] {
            let first = recorded(half.decision(under: parent(id, sampled: true)))
            let later = recorded(half.decision(under: first ?? parent(id, sampled: false)))
            #expect((first == nil) == (later == nil), "trace \(id)")
        }
    }

    @Test func aDroppedSpanRecordsNothingAndItsChildrenCarryItsContext() {
        let span = Span(nonRecording: parent("4bf92f3577b34da6a3ce929d0e0e4736", sampled: false))
        var child = span.child("commit")
        child.set("evento.events", 3)
        child.fail("boom")
        #expect(!child.isRecording && child.attributes.isEmpty && child.error == nil)
        #expect(child.traceparent.hasPrefix("00-4bf92f3577b34da6a3ce929d0e0e4736-") && child.traceparent.hasSuffix("-00"))
    }

    @Test func ratiosOutsideZeroToOneAreClamped() {
        #expect(TraceSampler(ratio: 7, parentBased: true) == TraceSampler(ratio: 1, parentBased: true))
        #expect(TraceSampler(ratio: -1, parentBased: true) == TraceSampler(ratio: 0, parentBased: true))
        #expect(TraceSampler(ratio: .nan, parentBased: true) == TraceSampler(ratio: 0, parentBased: true))
    }
}
