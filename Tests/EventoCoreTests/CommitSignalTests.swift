import EventoCore
import Testing

@Suite struct CommitSignalTests {
    @Test func endingLongPollsAnswersThemNowAndLaterOnesAtOnceButNotTheRelaysWaits() async throws {
        let signal = CommitSignal(head: 5)
        let start = ContinuousClock.now
        async let poll = signal.longPoll(after: 5, timeout: .seconds(30))
        async let relay = signal.wait(after: 5, timeout: .milliseconds(600))
        try await Task.sleep(for: .milliseconds(100))
        signal.endLongPolls()
        // Below the polls' 30 s (the bounds are loose: the whole suite shares two cores, and a full run has
        // stalled this process for over 10 s).
        #expect(await poll == 5)
        #expect(ContinuousClock.now - start < .seconds(25))
        #expect(await signal.longPoll(after: 5, timeout: .seconds(30)) == 5)
        #expect(ContinuousClock.now - start < .seconds(25))
        // The server's own waits run to their deadline (or the next commit).
        #expect(await relay == 5)
        #expect(ContinuousClock.now - start >= .milliseconds(600))
    }

    @Test func aCommitAnswersALongPoll() async throws {
        let signal = CommitSignal(head: 1)
        async let poll = signal.longPoll(after: 1, timeout: .seconds(30))
        try await Task.sleep(for: .milliseconds(50))
        signal.advance(to: 2)
        #expect(await poll == 2)
    }
}
