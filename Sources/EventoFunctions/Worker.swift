#if canImport(Glibc)
    import Glibc
#endif
import CEventoSystem
import EventoCore
import Foundation
import Logging
import Synchronization

/// One long-lived function process speaking one JSON object per line on stdin/stdout.
///
/// Spawned with `posix_spawnp` and close-on-exec pipes, so no worker inherits another's pipe ends and a
/// worker's death is always seen as end-of-file on its stdout. One I/O thread per worker does all of its
/// pipe work with non-blocking descriptors and `poll`: it writes requests (a worker that stops reading
/// holds up nothing but its own call), turns stdout lines into replies and stderr lines into log lines
/// tagged with the function's name, and reaps the process at the end.
///
/// Every request carries a call id (see `CallFrame`) that the reply must echo. A line that is not the
/// reply to the current call (a stray print, a missing or wrong call id, a line outside a call) or a line
/// longer than `maxReplyBytes` is a protocol violation: the worker is killed, never reused, and its call
/// fails.
final class Worker: @unchecked Sendable {
    // @unchecked: the descriptors are immutable after init and used by the I/O thread alone (the wake
    // descriptor also under the lock); all mutable state is in `state`.
    enum Failure: Error, Equatable {
        /// The process exited during the call (or before it could take it).
        case died(String)
        /// No reply within the call's timeout: the worker was killed.
        case timedOut
        /// The worker broke the line protocol: it was killed.
        case protocolViolation(String)
        /// The reply line passed the cap: the worker was killed.
        case replyTooLarge(Int)
    }

    private struct Call {
        let id: UInt64
        let continuation: CheckedContinuation<[UInt8], any Error>
        /// When the call times out; the I/O thread checks it on every wake, and wakes at least every
        /// `deadlineTick` (no timer per call).
        let deadline: ContinuousClock.Instant
    }

    /// Requests are written from whatever thread makes the call (see `exchange`): a worker that closed its
    /// stdin must give those threads EPIPE, not a SIGPIPE that ends the server. Children get SIGPIPE back
    /// at its default (posix_spawn's SETSIGDEF).
    private static let pipeSignalIgnored: Void = { _ = Glibc.signal(SIGPIPE, SIG_IGN) }()

    /// How often the I/O thread looks at the current call's deadline when nothing else wakes it: the
    /// precision of call timeouts.
    static let deadlineTick: Int32 = 50

    private struct State {
        var call: Call?
        var nextCallId: UInt64 = 0
        /// Request bytes for the I/O thread to write.
        var outgoing: [UInt8] = []
        /// The I/O thread holds request bytes it has not written yet: new bytes go behind them.
        var ioWriting = false
        /// Why the server is killing the worker; set once, and then the worker takes no call.
        var condemned: Failure?
        /// Stdin is to be closed once the outgoing bytes are written (shutdown: end-of-file tells the
        /// worker to exit).
        var closingInput = false
        /// The process was reaped: its pid may belong to another process now, so it is never signalled.
        var reaped = false
        /// The wake descriptor was closed (the I/O thread ended).
        var wakeClosed = false
        var finished = false
        var exitDescription = ""
        /// The signal that ended the process, if one did.
        var exitSignal: Int32?
        /// The status the process exited with, if it exited by itself.
        var exitStatus: Int32?
        var stderrTail: [String] = []
    }

    /// The longest log line kept from stderr; the rest of a longer one is dropped.
    static let maxLogLine = 64 * 1024

    let pid: pid_t
    let function: String
    let maxReplyBytes: Int
    let startedAt = ContinuousClock.now
    private let stdinFD: Int32
    private let stdoutFD: Int32
    private let stderrFD: Int32
    private let wakeFD: Int32
    private let state = Mutex(State())
    private let logger: Logger
    private let onExit: @Sendable (Worker) -> Void

    /// Starts the process. Throws `EventoError` when it cannot be started (no such program, no descriptors left).
    init(
        function: String, command: [String], environment: [String: String], workingDirectory: String?,
        maxReplyBytes: Int = FunctionRegistry.defaultMaxReplyBytes, logger: Logger, onExit: @escaping @Sendable (Worker) -> Void
    ) throws {
        self.function = function
        self.maxReplyBytes = maxReplyBytes
        self.logger = logger
        self.onExit = onExit
        // Every descriptor opened here is closed again on every failure path: under descriptor exhaustion
        // a leak would keep the table full after the pressure is gone.
        var opened: [Int32] = []
        func fail(_ what: String) -> EventoError {
            let reason = String(cString: strerror(errno))
            for fd in opened { close(fd) }
            return EventoError(.unavailable, "cannot start a worker of \(function): \(what): \(reason)")
        }
        var inPipe: [Int32] = [-1, -1]
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard evento_pipe_cloexec(&inPipe) == 0 else { throw fail("cannot create a pipe") }
        opened += inPipe
        guard evento_pipe_cloexec(&outPipe) == 0 else { throw fail("cannot create a pipe") }
        opened += outPipe
        guard evento_pipe_cloexec(&errPipe) == 0 else { throw fail("cannot create a pipe") }
        opened += errPipe
        Self.pipeSignalIgnored
        let wake = evento_eventfd()
        guard wake >= 0 else { throw fail("cannot create an eventfd") }
        opened.append(wake)
        // Room for large requests, so that most are written in one go.
        _ = evento_set_pipe_size(inPipe[1], 1 << 20)
        for fd in [inPipe[1], outPipe[0], errPipe[0]] { _ = evento_set_nonblocking(fd) }
        var env = ProcessInfo.processInfo.environment
        for (k, v) in WorkerEnvironment.added { env[k] = v }
        for (k, v) in environment { env[k] = v }
        env["EVENTO_FUNCTION"] = function
        let spawned = spawnProcess(
            command, environment: env, stdin: inPipe[0], stdout: outPipe[1], stderr: errPipe[1], workingDirectory: workingDirectory)
        close(inPipe[0])
        close(outPipe[1])
        close(errPipe[1])
        let child: pid_t
        switch spawned {
        case .success(let pid): child = pid
        case .failure(let e):
            for fd in [inPipe[1], outPipe[0], errPipe[0], wake] { close(fd) }
            // No such program is the registration's fault; anything else (EMFILE, EAGAIN) is the host's.
            let code: EventoError.Code = e.code == ENOENT || e.code == EACCES || e.code == ENOEXEC ? .invalidRequest : .unavailable
            throw EventoError(code, "cannot start \(command.joined(separator: " ")): \(e.message)", field: "transport.process.command")
        }
        pid = child
        stdinFD = inPipe[1]
        stdoutFD = outPipe[0]
        stderrFD = errPipe[0]
        wakeFD = wake
        let io = Thread { [self] in self.run() }
        io.name = "evento-fn-\(function)"
        io.start()
    }

    /// The process has not been reaped yet.
    var isAlive: Bool { state.withLock { !$0.reaped } }
    /// The worker can take a call: alive, not condemned, not shutting down.
    var isUsable: Bool { state.withLock { !$0.reaped && $0.condemned == nil && !$0.closingInput } }
    /// The I/O thread ended: the process was reaped and every descriptor closed.
    var isFinished: Bool { state.withLock { $0.finished } }
    var stderrTail: [String] { state.withLock { $0.stderrTail } }
    var exitDescription: String { state.withLock { $0.exitDescription } }

    /// Sends one request and waits for its reply, at most `timeout` (then the worker is killed).
    /// - Throws: `Worker.Failure`.
    func exchange(_ request: [UInt8], timeout: Duration) async throws -> [UInt8] {
        let id = state.withLock { s in
            s.nextCallId += 1
            return s.nextCallId
        }
        let framed = CallFrame.request(request, id: id)
        // The deadline is the I/O thread's to enforce, not a child task's: it holds even when the caller is
        // cancelled.
        let deadline = ContinuousClock.now + timeout
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<[UInt8], any Error>) in
            let accepted = state.withLock { s -> Bool in
                guard !s.reaped, s.condemned == nil, !s.closingInput, s.call == nil else { return false }
                s.call = Call(id: id, continuation: c, deadline: deadline)
                // The common case: the pipe has room and nothing is queued before us, so the request is
                // written here, without waking the I/O thread. What does not fit goes to the thread.
                var written = 0
                if !s.ioWriting && s.outgoing.isEmpty && !s.wakeClosed {
                    if !writeSome(framed, from: &written) { written = 0 }
                }
                if written < framed.count {
                    s.outgoing += framed[written...]
                    wake(&s)
                }
                return true
            }
            guard accepted else {
                c.resume(throwing: Failure.died("worker \(pid) is not available"))
                return
            }
        }
    }

    /// Fails the current call if its deadline passed (the I/O thread asks).
    private func expireIfDue() {
        let due = state.withLock { s -> Bool in
            guard let call = s.call else { return false }
            return ContinuousClock.now >= call.deadline
        }
        if due, let id = state.withLock({ $0.call?.id }) { expire(call: id) }
    }

    /// Call `id` took too long: the worker is killed and the call fails as timed out.
    func expire(call id: UInt64) {
        let call = state.withLock { s -> Call? in
            guard let call = s.call, call.id == id else { return nil }
            s.call = nil
            condemn(&s, .timedOut)
            return call
        }
        call?.continuation.resume(throwing: Failure.timedOut)
    }

    /// Closes the worker's stdin once what was sent is written: a worker exits at end-of-file.
    func closeInput() {
        state.withLock { s in
            s.closingInput = true
            wake(&s)
        }
    }

    func terminate() { _ = signal(SIGTERM) }

    func kill() { _ = signal(SIGKILL) }

    /// Signals the process unless it was reaped (its pid may be another process's by then). Returns
    /// whether the signal was sent. The check and the signal happen under the lock that reaping takes.
    @discardableResult
    func signal(_ sig: Int32) -> Bool {
        state.withLock { s in
            guard !s.reaped else { return false }
            Glibc.kill(pid, sig)
            return true
        }
    }

    // MARK: Under the lock

    /// Marks the worker as killed by the server for `reason` and kills the process.
    private func condemn(_ s: inout State, _ reason: Failure) {
        guard s.condemned == nil else { return }
        s.condemned = reason
        if !s.reaped { Glibc.kill(pid, SIGKILL) }
    }

    private func wake(_ s: inout State) {
        guard !s.wakeClosed else { return }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: The I/O thread

    private func run() {
        // A write to a worker that closed its stdin fails with EPIPE here instead of ending the server.
        _ = evento_block_sigpipe()
        var stdinOpen = true
        var stdoutOpen = true
        var stderrOpen = true
        var pendingOut: [UInt8] = []
        var written = 0
        var replies = LineSplitter(maxLine: maxReplyBytes)
        var logLines = LineSplitter(maxLine: Self.maxLogLine)
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)

        while stdoutOpen {
            let closeInput = state.withLock { s -> Bool in
                if !s.outgoing.isEmpty {
                    if written == pendingOut.count {
                        pendingOut = s.outgoing
                        written = 0
                    } else {
                        pendingOut += s.outgoing
                    }
                    s.outgoing = []
                }
                s.ioWriting = written < pendingOut.count
                return s.closingInput
            }
            if closeInput && stdinOpen && written == pendingOut.count {
                close(stdinFD)
                stdinOpen = false
            }
            var fds = [pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            if stderrOpen { fds.append(pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0)) }
            if stdinOpen && written < pendingOut.count { fds.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
            let ready = poll(&fds, nfds_t(fds.count), Self.deadlineTick)
            expireIfDue()
            if ready < 0 {
                if errno == EINTR { continue }
                logger.error("poll failed for a function worker: \(String(cString: strerror(errno)))", metadata: metadata)
                signal(SIGKILL)
                break
            }
            for p in fds where p.revents != 0 {
                switch p.fd {
                case wakeFD:
                    var count: UInt64 = 0
                    _ = read(wakeFD, &count, 8)
                case stdinFD:
                    if !writeSome(pendingOut, from: &written) {
                        // The worker closed its stdin: it cannot take calls any more.
                        close(stdinFD)
                        stdinOpen = false
                        pendingOut = []
                        written = 0
                        signal(SIGKILL)
                    }
                case stdoutFD:
                    let n = chunk.withUnsafeMutableBytes { read(stdoutFD, $0.baseAddress, $0.count) }
                    if n > 0 {
                        chunk.withUnsafeBytes { buf in
                            replies.feed(UnsafeRawBufferPointer(rebasing: buf[0..<n])) { piece in
                                switch piece {
                                case .line(let line): deliver(line)
                                case .overlong: violate(.replyTooLarge(maxReplyBytes))
                                }
                            }
                        }
                    } else if n == 0 || (errno != EAGAIN && errno != EINTR) {
                        stdoutOpen = false
                    }
                case stderrFD:
                    if !readLog(&logLines, &chunk) { stderrOpen = false }
                default:
                    break
                }
            }
        }

        // Stdout is closed: the process exited or is about to.
        close(stdoutFD)
        if stdinOpen { close(stdinFD) }
        let description = reap()
        // What the process wrote to stderr before it exited; a descendant that still holds the pipe open
        // (or keeps writing to it) does not keep this thread for more than a moment.
        let drainUntil = ContinuousClock.now + .milliseconds(200)
        while stderrOpen && ContinuousClock.now < drainUntil {
            var p = pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, 50)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 || !readLog(&logLines, &chunk) { stderrOpen = false }
        }
        logLines.finish { piece in if case .line(let line) = piece { log(line, truncated: false) } }
        close(stderrFD)

        let (call, condemned, stopping, exitSignal, exitStatus) = state.withLock { s -> (Call?, Failure?, Bool, Int32?, Int32?) in
            close(wakeFD)
            s.wakeClosed = true
            s.finished = true
            let call = s.call
            s.call = nil
            return (call, s.condemned, s.closingInput, s.exitSignal, s.exitStatus)
        }
        call?.continuation.resume(throwing: Failure.died("worker \(pid) \(description) during the call"))
        if condemned == nil {
            // A stop is not a fault: after end-of-file (the server stopping or replacing the function) the
            // worker is expected to exit, and SIGTERM, SIGINT or SIGHUP from outside (a terminal's Ctrl-C
            // reaches the whole process group) asked it to. Anything else is: a crash, an exit on its own.
            if stopping {
                logger.log(level: exitStatus == 0 ? .debug : .info, "function worker stopped: \(description)", metadata: metadata)
            } else if let sig = exitSignal, [SIGTERM, SIGINT, SIGHUP].contains(sig) {
                logger.info("function worker \(description)", metadata: metadata)
            } else {
                logger.warning("function worker \(description)", metadata: metadata)
            }
        }
        onExit(self)
    }

    private var metadata: Logger.Metadata { ["evento.function": "\(function)", "pid": "\(pid)"] }

    /// Writes what it can without blocking. Returns false when the pipe is broken.
    private func writeSome(_ bytes: [UInt8], from offset: inout Int) -> Bool {
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(stdinFD, $0.baseAddress! + offset, bytes.count - offset) }
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && errno == EAGAIN {
                return true
            } else {
                return false
            }
        }
        return true
    }

    /// Reads a chunk of stderr into log lines. Returns false at end-of-file.
    private func readLog(_ lines: inout LineSplitter, _ chunk: inout [UInt8]) -> Bool {
        let n = chunk.withUnsafeMutableBytes { read(stderrFD, $0.baseAddress, $0.count) }
        if n < 0 { return errno == EAGAIN || errno == EINTR }
        if n == 0 { return false }
        chunk.withUnsafeBytes { buf in
            lines.feed(UnsafeRawBufferPointer(rebasing: buf[0..<n])) { piece in
                switch piece {
                case .line(let line): log(line, truncated: false)
                case .overlong(let head): log(head, truncated: true)
                }
            }
        }
        return true
    }

    /// A line on stdout: the reply to the current call, or a protocol violation.
    private func deliver(_ line: [UInt8]) {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }  // blank lines carry nothing
        enum Current { case call(UInt64), noCall, condemned }
        let current = state.withLock { s -> Current in
            if s.condemned != nil { return .condemned }  // being killed: the rest is noise
            return s.call.map { .call($0.id) } ?? .noCall
        }
        let id: UInt64
        switch current {
        case .condemned: return
        case .noCall:
            violate(.protocolViolation("it wrote a line to stdout outside a call: \(CallFrame.preview(line))"))
            return
        case .call(let current): id = current
        }
        let match = CallFrame.match(line, id: id)
        let call = state.withLock { s -> Call? in
            // The call may have timed out meanwhile.
            guard let call = s.call, call.id == id, s.condemned == nil else { return nil }
            s.call = nil
            if case .violation(let why) = match { condemn(&s, .protocolViolation(why)) }
            return call
        }
        switch match {
        case .reply(let reply):
            call?.continuation.resume(returning: reply)
        case .violation(let why):
            guard let call else { return }
            logger.error("protocol violation: \(why); the worker is killed and replaced", metadata: metadata)
            call.continuation.resume(throwing: Failure.protocolViolation(why))
        }
    }

    /// The worker broke the protocol: kill it and fail its call.
    private func violate(_ failure: Failure) {
        let call = state.withLock { s -> Call? in
            guard s.condemned == nil else { return nil }
            let call = s.call
            s.call = nil
            condemn(&s, failure)
            return call
        }
        let why: String
        switch failure {
        case .protocolViolation(let w): why = w
        case .replyTooLarge(let cap): why = "a stdout line exceeds \(cap) bytes"
        default: why = "\(failure)"
        }
        logger.error("protocol violation: \(why); the worker is killed and replaced", metadata: metadata)
        call?.continuation.resume(throwing: failure)
    }

    /// Waits for the process to exit and reaps it. Until then the pid stays ours: the child is a zombie at
    /// worst (waitid with WNOWAIT), so `signal` cannot hit another process that got the same pid.
    private func reap() -> String {
        var exited = evento_child_exited(pid, 0)
        for _ in 0..<10 where exited == 0 {
            usleep(10_000)
            exited = evento_child_exited(pid, 0)
        }
        if exited == 0 {
            // It closed stdout but lives on: make sure.
            signal(SIGKILL)
            exited = evento_child_exited(pid, 1)
        }
        return state.withLock { s -> String in
            var status: Int32 = 0
            let waited = exited == 1 ? waitpid(pid, &status, 0) : -1
            s.reaped = true
            let description: String
            if waited == pid {
                let sig = status & 0x7f
                let how = sig == 0 ? "exited with status \((status >> 8) & 0xff)" : "was killed by signal \(sig)"
                if sig != 0 { s.exitSignal = sig } else { s.exitStatus = (status >> 8) & 0xff }
                switch s.condemned {
                case .timedOut?: description = "\(how) (no reply in time)"
                case .protocolViolation(let why)?: description = "\(how) after a protocol violation (\(why))"
                case .replyTooLarge(let cap)?: description = "\(how) after a stdout line exceeded \(cap) bytes"
                case .died?, nil: description = how
                }
            } else {
                description = "exited"
            }
            s.exitDescription = description
            return description
        }
    }

    private func log(_ bytes: [UInt8], truncated: Bool) {
        let line = String(decoding: bytes, as: UTF8.self) + (truncated ? "…(truncated)" : "")
        state.withLock { s in
            s.stderrTail.append(line.count > 500 ? String(line.prefix(500)) + "…" : line)
            if s.stderrTail.count > 20 { s.stderrTail.removeFirst() }
        }
        logger.info("\(line)", metadata: metadata)
    }
}

/// Variables the server gives every process worker on top of its own environment (`EVENTO_URL`, the
/// workers' read token): kept here rather than set with `setenv`, which is not safe while other threads
/// may read the environment.
public enum WorkerEnvironment {
    private static let variables = Mutex<[String: String]>([:])

    /// Adds a variable for the workers started from now on; `overwrite: false` keeps one the server's own
    /// environment has.
    public static func set(_ name: String, _ value: String, overwrite: Bool = true) {
        if !overwrite, ProcessInfo.processInfo.environment[name] != nil { return }
        variables.withLock { $0[name] = value }
    }

    static var added: [String: String] { variables.withLock { $0 } }
}
