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
/// worker's death is always seen as end-of-file on its stdout. A reader thread per stream turns stdout
/// lines into replies and stderr lines into log lines tagged with the function's name.
final class Worker: @unchecked Sendable {
    // @unchecked: the fds are immutable after init; all mutable state is in `state`.
    enum Failure: Error {
        case died(String)
        case timedOut
    }

    private struct State {
        var pending: CheckedContinuation<[UInt8], any Error>?
        var alive = true
        var timedOut = false
        var exitDescription = ""
        var stderrTail: [String] = []
        var call: UInt64 = 0
    }

    let pid: pid_t
    let function: String
    let startedAt = ContinuousClock.now
    private let stdinFD: Int32
    private let stdoutFD: Int32
    private let stderrFD: Int32
    private let state = Mutex(State())
    private let logger: Logger
    private let onExit: @Sendable (Worker) -> Void

    /// Starts the process. Throws `EventoError` when it cannot be started (no such program, say).
    init(
        function: String, command: [String], environment: [String: String], workingDirectory: String?, logger: Logger,
        onExit: @escaping @Sendable (Worker) -> Void
    ) throws {
        self.function = function
        self.logger = logger
        self.onExit = onExit
        var inPipe: [Int32] = [-1, -1]
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard evento_pipe_cloexec(&inPipe) == 0, evento_pipe_cloexec(&outPipe) == 0, evento_pipe_cloexec(&errPipe) == 0 else {
            throw EventoError(.unavailable, "cannot create pipes for \(function): \(String(cString: strerror(errno)))")
        }
        // Room for large requests, so that writing one never waits on a slow reader.
        _ = evento_set_pipe_size(inPipe[1], 1 << 20)
        var env = ProcessInfo.processInfo.environment
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
            close(inPipe[1])
            close(outPipe[0])
            close(errPipe[0])
            throw EventoError(
                .invalidRequest, "cannot start \(command.joined(separator: " ")): \(e.message)", field: "transport.process.command")
        }
        pid = child
        stdinFD = inPipe[1]
        stdoutFD = outPipe[0]
        stderrFD = errPipe[0]
        let out = Thread { [self] in self.readReplies() }
        out.name = "evento-fn-\(function)-out"
        out.start()
        let err = Thread { [self] in self.readLog() }
        err.name = "evento-fn-\(function)-err"
        err.start()
    }

    var isAlive: Bool { state.withLock { $0.alive } }
    var stderrTail: [String] { state.withLock { $0.stderrTail } }
    var exitDescription: String { state.withLock { $0.exitDescription } }

    /// Sends one request line and waits for the reply line.
    func exchange(_ request: [UInt8]) async throws -> [UInt8] {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<[UInt8], any Error>) in
            let ok = state.withLock { s -> Bool in
                guard s.alive, s.pending == nil else { return false }
                s.pending = c
                return true
            }
            guard ok else {
                c.resume(throwing: Failure.died("worker \(pid) is not available"))
                return
            }
            var line = request
            line.append(UInt8(ascii: "\n"))
            let written = line.withUnsafeBytes { writeAll($0) }
            if !written {
                // The reader thread sees the process go and fails the pending call.
                Glibc.kill(pid, SIGKILL)
            }
        }
    }

    private func writeAll(_ buf: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < buf.count {
            let n = write(stdinFD, buf.baseAddress! + offset, buf.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    /// Numbers the next call, so that a late timer cannot expire a later call.
    func nextCall() -> UInt64 {
        state.withLock { s in
            s.call += 1
            return s.call
        }
    }

    /// Call `call` took too long: kill the worker; the call fails as timed out.
    func expire(call: UInt64) {
        let current = state.withLock { s -> Bool in
            guard s.call == call, s.pending != nil else { return false }
            s.timedOut = true
            return true
        }
        if current { Glibc.kill(pid, SIGKILL) }
    }

    func terminate() {
        Glibc.kill(pid, SIGTERM)
    }

    func kill() {
        Glibc.kill(pid, SIGKILL)
    }

    private func readReplies() {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(stdoutFD, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            var start = buffer.count
            buffer.append(contentsOf: chunk[0..<n])
            while let nl = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<nl])
                buffer.removeSubrange(...nl)
                start = 0
                deliver(line)
            }
        }
        close(stdoutFD)
        close(stdinFD)
        // Reap the process (it closed stdout: it exited or is about to; make sure).
        var status: Int32 = 0
        var waited = waitpid(pid, &status, WNOHANG)
        if waited == 0 {
            usleep(100_000)
            waited = waitpid(pid, &status, WNOHANG)
            if waited == 0 {
                Glibc.kill(pid, SIGKILL)
                waited = waitpid(pid, &status, 0)
            }
        }
        let description: String
        if waited == pid {
            let sig = status & 0x7f
            description = sig == 0 ? "exited with status \((status >> 8) & 0xff)" : "was killed by signal \(sig)"
        } else {
            description = "exited"
        }
        let (pending, timedOut) = state.withLock { s -> (CheckedContinuation<[UInt8], any Error>?, Bool) in
            s.alive = false
            s.exitDescription = description
            let p = s.pending
            s.pending = nil
            return (p, s.timedOut)
        }
        if let pending {
            pending.resume(throwing: timedOut ? Failure.timedOut : Failure.died("worker \(pid) \(description) during the call"))
        }
        if !timedOut { logger.warning("function worker \(description)", metadata: ["evento.function": "\(function)", "pid": "\(pid)"]) }
        onExit(self)
    }

    private func deliver(_ line: [UInt8]) {
        let pending = state.withLock { s -> CheckedContinuation<[UInt8], any Error>? in
            let p = s.pending
            s.pending = nil
            return p
        }
        if let pending {
            pending.resume(returning: line)
        } else if !line.isEmpty {
            logger.warning(
                "function wrote to stdout outside a call (log to stderr instead): \(String(decoding: line.prefix(200), as: UTF8.self))",
                metadata: ["evento.function": "\(function)"])
        }
    }

    private func readLog() {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(stderrFD, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            buffer.append(contentsOf: chunk[0..<n])
            while let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                log(line)
            }
        }
        if !buffer.isEmpty { log(String(decoding: buffer, as: UTF8.self)) }
        close(stderrFD)
    }

    private func log(_ line: String) {
        state.withLock { s in
            s.stderrTail.append(line)
            if s.stderrTail.count > 20 { s.stderrTail.removeFirst() }
        }
        logger.info("\(line)", metadata: ["evento.function": "\(function)", "pid": "\(pid)"])
    }
}
