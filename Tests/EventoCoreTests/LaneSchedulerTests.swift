@testable import EventoCore
import Foundation
import Testing

func command(_ entity: String, _ id: String = Identifiers.uuidV7()) -> CommandRecord {
    CommandRecord(
        id: id, entity: try! EntityId(parsing: entity), type: "Do", payload: RawJSON(trusted: "{}"), causationId: nil,
        causationKind: .external, correlationId: id, traceparent: nil, createdAt: .now(), updatedAt: .now())
}

@Suite struct LaneSchedulerTests {
    @Test func commandsOfOneEntityRunOneAtATimeInOrder() throws {
        var s = LaneScheduler(maxRunning: 10)
        for i in 0..<3 {
            let queued = s.enqueue(command("a:1", "c\(i)"))
            guard case .queued = queued else { Issue.record("c\(i) not queued"); return }
        }
        let again = s.enqueue(command("a:1", "c1"))
        guard case .alreadyQueued(let existing) = again else { Issue.record("c1 queued twice"); return }
        #expect(existing.id == "c1", "a command is never queued twice: the one queued is handed back")
        let first = s.startable { _ in 10 }
        #expect(first == ["a:1"])
        let second = s.startable { _ in 10 }
        #expect(second.isEmpty, "a running lane is not started again")
        var ran: [String] = []
        while let c = s.front(of: "a:1") {
            ran.append(c.record.id)
            if !s.finished("a:1") { break }
        }
        #expect(ran == ["c0", "c1", "c2"])
        #expect(s.backlog == 0)
        #expect(s.running == 0)
    }

    @Test func anAggregateAtItsLimitLeavesTheSlotsToOthers() throws {
        var s = LaneScheduler(maxRunning: 8)
        for i in 0..<20 { _ = s.enqueue(command("hang:\(i)")) }
        _ = s.enqueue(command("counter:1"))
        let started = s.startable { $0 == "hang" ? 3 : 100 }
        #expect(started.filter { $0.hasPrefix("hang:") }.count == 3)
        #expect(started.contains("counter:1"))
        #expect(s.running == 4)
        // A hang lane finishing frees a hang slot, and the next hang lane takes it.
        let more = s.finished(started[0])
        #expect(!more)
        let next = s.startable { $0 == "hang" ? 3 : 100 }
        #expect(next.count == 1)
    }

    @Test func anAggregateAtItsLimitDoesNotStopOthersFromTakingEveryFreeSlot() throws {
        // "a" is full and comes first in the rotation; "b" has room for three lanes.
        var s = LaneScheduler(maxRunning: 100)
        _ = s.enqueue(command("a:0"))
        let first = s.startable { _ in 1 }
        #expect(first == ["a:0"])
        _ = s.enqueue(command("a:1"))
        for i in 0..<3 { _ = s.enqueue(command("b:\(i)")) }
        let more = s.startable { $0 == "a" ? 1 : 4 }
        #expect(more == ["b:0", "b:1", "b:2"], "every ready lane of b starts, though a is full")
    }

    @Test func aCommandIdQueuedTwiceIsHandedBackAndItsLoggedStateIsKept() throws {
        var s = LaneScheduler(maxRunning: 10)
        let unlogged = command("a:1", "x")
        _ = s.enqueue(unlogged, isLogged: false)
        #expect(s.startable { _ in 10 } == ["a:1"])
        #expect(s.front(of: "a:1")?.isLogged == false)
        s.markLogged("x")
        #expect(s.front(of: "a:1")?.isLogged == true)
        guard case .alreadyQueued = s.enqueue(command("b:1", "x")) else {
            Issue.record("the same id under another entity was queued a second time")
            return
        }
        #expect(s.backlog == 1)
    }

    @Test func aLaneBackingOffHoldsNoSlotAndKeepsItsOrder() throws {
        var s = LaneScheduler(maxRunning: 1)
        _ = s.enqueue(command("a:1", "first"))
        _ = s.enqueue(command("a:1", "second"))
        _ = s.enqueue(command("b:1", "other"))
        let a = s.startable { _ in 10 }
        #expect(a == ["a:1"])
        s.backOff("a:1", attempts: 1)
        #expect(s.running == 0)
        let b = s.startable { _ in 10 }
        #expect(b == ["b:1"], "the backing-off lane's slot went to another entity")
        let bMore = s.finished("b:1")
        #expect(!bMore)
        let none = s.startable { _ in 10 }
        #expect(none.isEmpty, "a lane backing off does not run before it is due")
        s.due("a:1")
        let again = s.startable { _ in 10 }
        #expect(again == ["a:1"])
        #expect(s.front(of: "a:1")?.record.id == "first")
        #expect(s.front(of: "a:1")?.record.attempts == 1)
    }

    @Test func queueingCostsTheSameForOneHotEntityAsForManyEntities() throws {
        // Before: each command copied its lane's whole queue (O(n) per command, O(n²) for a hot entity).
        let n = 40_000
        let hot = (0..<n).map { _ in command("hot:1") }
        let spread = (0..<n).map { i in command("spread:\(i)") }
        func time(_ commands: [CommandRecord]) -> Duration {
            var s = LaneScheduler(maxRunning: 1024)
            let started = ContinuousClock.now
            for c in commands { _ = s.enqueue(c) }
            return ContinuousClock.now - started
        }
        _ = time(Array(spread.prefix(1000)))  // warm up
        let hotTime = time(hot)
        let spreadTime = time(spread)
        #expect(hotTime < spreadTime * 4 + .milliseconds(100), "hot \(hotTime), spread \(spreadTime)")
    }
}

@Suite struct WaitersTests {
    @Test func anOutcomeThatLandsWhileTheWaiterChecksIsNotLost() async {
        let waiters = Waiters<Int>()
        // The outcome lands after registration, before the wait: the waiter must still get it (a lost
        // wake-up would give nil at the deadline).
        let value = await waiters.wait(for: "k", timeout: .seconds(5)) {
            waiters.resolve("k", with: 42)
            return nil
        }
        #expect(value == 42)
        #expect(waiters.count == 0)
    }

    @Test func aWaiterGetsALaterOutcomeAndATimeoutGivesNil() async {
        let waiters = Waiters<Int>()
        async let got = waiters.wait(for: "k", timeout: .seconds(60)) { nil }
        while waiters.count == 0 { try? await Task.sleep(for: .milliseconds(1)) }  // registered
        waiters.resolve("k", with: 7)
        #expect(await got == 7)
        #expect(await waiters.wait(for: "none", timeout: .milliseconds(50)) { nil } == nil)
        #expect(waiters.count == 0)
    }

    @Test func aCancelledWaiterReturnsNilAndLeavesNothingBehind() async {
        let waiters = Waiters<Int>()
        let task = Task { await waiters.wait(for: "k", timeout: .seconds(30)) { nil } }
        try? await Task.sleep(for: .milliseconds(50))
        task.cancel()
        #expect(await task.value == nil)
        #expect(waiters.count == 0)
    }
}
