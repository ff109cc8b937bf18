import EventoCore
import Testing

@Suite struct ModelTests {
    @Test func entityIdsSplitAtTheFirstColon() throws {
        let e = try EntityId(parsing: "checking:6789-21")
        #expect(e.aggregate == "checking")
        #expect(e.id == "6789-21")
        #expect(try EntityId(parsing: "order:eu:42").id == "eu:42")
    }

    @Test(arguments: ["", "checking", ":1", "9x:1", "check-ing:1", "checking:", "checking:a b", "checking:\u{7}"])
    func malformedEntityIdsAreRefused(text: String) {
        #expect(throws: EntityIdError.self) { try EntityId(parsing: text) }
    }

    @Test func timestampsRenderAsRFC3339UTC() {
        #expect(Timestamp(millisecondsSinceEpoch: 0).description == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp(millisecondsSinceEpoch: 1_795_839_145_123).description == "2026-11-28T04:12:25.123Z")
        #expect(Timestamp(millisecondsSinceEpoch: 951_782_400_000).description == "2000-02-29T00:00:00.000Z")
        #expect(Timestamp(millisecondsSinceEpoch: -1).description == "1969-12-31T23:59:59.999Z")
    }

    @Test func uuidV7IsVersionedAndTimeOrdered() {
        let a = Identifiers.uuidV7(now: Timestamp(millisecondsSinceEpoch: 1000))
        let b = Identifiers.uuidV7(now: Timestamp(millisecondsSinceEpoch: 2000))
        #expect(a.count == 36)
        #expect(Array(a)[14] == "7")
        #expect(a < b)
    }

    @Test func traceparentsFollowW3C() throws {
        let t = try #require(TraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
        #expect(t.traceId == "4bf92f3577b34da6a3ce929d0e0e4736")
        let child = t.child()
        #expect(child.traceId == t.traceId)
        #expect(child.parentId != t.parentId)
        #expect(TraceParent("00-00000000000000000000000000000000-00f067aa0ba902b7-01") == nil)
        #expect(TraceParent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01") == nil)
        #expect(TraceParent("nonsense") == nil)
        #expect(TraceParent(TraceParent.newTrace().description) != nil)
    }

    @Test func expectedVersionsMatch() {
        #expect(ExpectedVersion.any.matches(7))
        #expect(ExpectedVersion.noStream.matches(0))
        #expect(!ExpectedVersion.noStream.matches(1))
        #expect(ExpectedVersion.exists.matches(1))
        #expect(!ExpectedVersion.exists.matches(0))
        #expect(ExpectedVersion.exact(3).matches(3))
        #expect(!ExpectedVersion.exact(3).matches(4))
    }
}

@Suite struct HashTests {
    @Test func sha256MatchesTheStandardVectors() {
        #expect(Identifiers.sha256Hex("".utf8) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Identifiers.sha256Hex("abc".utf8) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func derivedIdsAreStableDistinctAndDependOnTheKey() {
        let ids = IdDerivation(key: Array(repeating: 7, count: 32))
        let a = ids.commandId(event: "event-1", dispatcher: "transfer", index: 0)
        #expect(a == ids.commandId(event: "event-1", dispatcher: "transfer", index: 0))
        #expect(a != ids.commandId(event: "event-1", dispatcher: "transfer", index: 1))
        #expect(Array(a)[14] == "8")
        // Another store (another key) derives other ids: nobody outside can compute them.
        let other = IdDerivation(key: Array(repeating: 8, count: 32))
        #expect(a != other.commandId(event: "event-1", dispatcher: "transfer", index: 0))
        #expect(ids.id("c", "event", "0") != ids.id("c", "event", "1"))
    }
}
