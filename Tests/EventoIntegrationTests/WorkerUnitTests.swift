import EventoCore
@testable import EventoFunctions
import Foundation
import Logging
import Testing

/// The process transport in this process, without a server: races and signals that an HTTP-level test
/// cannot arrange, and the pieces of the worker protocol.
@Suite(.serialized) struct ProcessPoolTests {
    static let logger = Logger(label: "evento-test")

    /// A worker that reads stdin until end-of-file and then exits.
    static func catWorker(onExit: @escaping @Sendable (Worker) -> Void = { _ in }) throws -> Worker {
        try Worker(function: "cat", command: ["cat"], environment: [:], workingDirectory: nil, logger: logger, onExit: onExit)
    }

    @Test func callsWaitingForAWorkerAreResumedOnceWhenThePoolShutsDown() async throws {
        // A pool without workers: every call waits in acquire() until shutdown() fails it. Racing the two
        // many times over finds a continuation resumed twice (a crash) if there is one.
        for _ in 0..<3000 {
            let pool = ProcessPool(function: "none", command: ["true"], workers: 0, environment: [:], workingDirectory: nil, logger: Self.logger)
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        await #expect(throws: FunctionCallError.self) { try await pool.call(Array("{}".utf8), timeout: .seconds(30)) }
                    }
                }
                group.addTask { await pool.shutdown() }
            }
        }
    }

    @Test func aWorkerWhoseProcessWasReapedSignalsNothingEvenWhenItsPidIsReused() async throws {
        let exited = AsyncStream<Void>.makeStream()
        let worker = try Self.catWorker { _ in exited.continuation.yield() }
        let pid = worker.pid
        worker.kill()
        for await _ in exited.stream { break }
        #expect(!worker.isAlive)

        // Have the kernel hand the worker's pid to a new process (pids are allocated after ns_last_pid;
        // posix_spawn starts no thread that could take it first).
        var victim: pid_t?
        for _ in 0..<20 {
            guard (try? "\(pid - 1)".write(toFile: "/proc/sys/kernel/ns_last_pid", atomically: false, encoding: .utf8)) != nil else { break }
            let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
            defer { close(devNull) }
            guard case .success(let child) = spawnProcess(["sleep", "30"], environment: [:], stdin: devNull, stdout: devNull, stderr: devNull)
            else { break }
            if child == pid {
                victim = child
                break
            }
            Foundation.kill(child, SIGKILL)
            var status: Int32 = 0
            waitpid(child, &status, 0)
        }
        guard let victim else {
            withKnownIssue("could not arrange for pid \(pid) to be reused (ns_last_pid not writable, or a busy machine)") {
                Issue.record("pid reuse not arranged")
            }
            return
        }
        defer {
            Foundation.kill(victim, SIGKILL)
            var status: Int32 = 0
            waitpid(victim, &status, 0)
        }
        worker.kill()
        worker.terminate()
        try await Task.sleep(for: .milliseconds(200))
        var status: Int32 = 0
        #expect(waitpid(victim, &status, WNOHANG) == 0, "the stale worker signalled pid \(pid), which belongs to another process now")
    }
}

@Suite struct CallFrameTests {
    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func theCallIdBecomesTheFirstMemberOfTheRequestAndTheLineEndsInANewline() {
        #expect(text(CallFrame.request(Array(#"{"kind":"handle","command":{}}"#.utf8), id: 7)) == #"{"callId":7,"kind":"handle","command":{}}"# + "\n")
        #expect(text(CallFrame.request(Array(" { } ".utf8), id: 12)) == #"{"callId":12 } "# + "\n")
        let batch = CallFrame.request(Array(#"{"kind":"batch","requests":[{"kind":"handle"},{"kind":"handle"}]}"#.utf8), id: 3)
        #expect(text(batch).hasPrefix(#"{"callId":3,"kind":"batch","requests":[{"kind":"handle"},"#))
    }

    @Test func aReplyThatStartsWithItsCallIdIsTakenWithoutParsingAndLosesTheId() {
        #expect(CallFrame.match(Array(#"{"callId":7,"events":[]}"#.utf8), id: 7) == .reply(Array(#"{"events":[]}"#.utf8)))
        #expect(CallFrame.match(Array(#"{ "callId" : 7 , "events": []}"#.utf8), id: 7) == .reply(Array(#"{ "events": []}"#.utf8)))
        #expect(CallFrame.match(Array(#"{"callId":7}"#.utf8), id: 7) == .reply(Array("{}".utf8)))
    }

    @Test func aReplyWithItsCallIdElsewhereIsParsedAndRewrittenWithoutIt() {
        #expect(CallFrame.match(Array(#"{"events": [], "callId": 7}"#.utf8), id: 7) == .reply(Array(#"{"events":[]}"#.utf8)))
    }

    @Test(arguments: [
        (#"{"callId":8,"events":[]}"#, "the reply is for callId 8, expected 7"),
        (#"{"callId":70,"events":[]}"#, "the reply is for callId 70, expected 7"),
        (#"{"events":[]}"#, "the reply has no callId"),
        ("debug: handling a command", "a line that is not a JSON reply"),
        (#"[{"callId":7}]"#, "a line that is not a JSON object"),
        (#"{"callId":"7","events":[]}"#, #"the reply is for callId "7", expected 7"#),
    ])
    func anythingElseIsAViolationThatSaysWhy(_ line: String, _ why: String) {
        guard case .violation(let message) = CallFrame.match(Array(line.utf8), id: 7) else {
            Issue.record("\(line) was taken as the reply to call 7")
            return
        }
        #expect(message.hasPrefix(why), "\(message)")
    }
}

@Suite struct LineSplitterTests {
    func split(_ chunks: [String], maxLine: Int = 8) -> [LineSplitter.Piece] {
        var splitter = LineSplitter(maxLine: maxLine)
        var pieces: [LineSplitter.Piece] = []
        for c in chunks { splitter.feed(Array(c.utf8)) { pieces.append($0) } }
        splitter.finish { pieces.append($0) }
        return pieces
    }

    func line(_ s: String) -> LineSplitter.Piece { .line(Array(s.utf8)) }

    @Test func linesAreCutAtNewlinesAcrossChunks() {
        #expect(split(["ab", "c\nde\n", "\nf"]) == [line("abc"), line("de"), line(""), line("f")])
    }

    @Test func aLineOverTheLimitIsReportedOnceWithItsHeadAndTheRestIsDroppedUpToItsNewline() {
        #expect(split(["0123456789abc", "def\nok\n"]) == [.overlong(Array("01234567".utf8)), line("ok")])
        #expect(split(["01234567", "8", "9\nok"]) == [.overlong(Array("01234567".utf8)), line("ok")])
        #expect(split(["01234567\n"]) == [line("01234567")], "exactly the limit is a line")
    }

    @Test func anUnterminatedStreamHoldsAtMostTheLimit() {
        var splitter = LineSplitter(maxLine: 64 * 1024)
        var overlong = 0
        let chunk = [UInt8](repeating: UInt8(ascii: "e"), count: 64 * 1024)
        for _ in 0..<320 {  // 20 MiB without a newline
            splitter.feed(chunk) { if case .overlong = $0 { overlong += 1 } }
            #expect(splitter.pendingCount <= 64 * 1024)
        }
        #expect(overlong == 1)
    }
}
