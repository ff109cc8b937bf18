import CEventoSystem
import EventoCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What a finished program said.
public struct CommandResult: Sendable {
    public var status: Int32
    public var output: String
    public var errorOutput: String
    public var succeeded: Bool { status == 0 }

    /// The last lines of stderr (or stdout when stderr is empty), for error messages.
    public func tail(_ lines: Int = 5) -> String {
        let text = errorOutput.isEmpty ? output : errorOutput
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

/// Runs short-lived control programs (the container engine): spawned off the cooperative pool, waited
/// for on a thread of their own, output collected through unlinked temporary files (no pipe to drain).
public enum CommandRunner {
    /// Runs `argv` to completion, killing it after `timeout`.
    /// - Throws: `EventoError` (`.unavailable`) when the program cannot be started.
    public static func run(_ argv: [String], timeout: Duration = .seconds(300)) async throws -> CommandResult {
        precondition(!argv.isEmpty)
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        let out = try temporaryFile()
        let err = try temporaryFile()
        defer {
            close(devNull)
            close(out)
            close(err)
        }
        let child: pid_t
        switch spawnProcess(argv, environment: ProcessInfo.processInfo.environment, stdin: devNull, stdout: out, stderr: err) {
        case .success(let pid): child = pid
        case .failure(let e): throw EventoError(.unavailable, "cannot run \(argv[0]): \(e.message)")
        }
        let killer = Task {
            try await Task.sleep(for: timeout)
            kill(child, SIGKILL)
        }
        let status: Int32 = await withCheckedContinuation { (c: CheckedContinuation<Int32, Never>) in
            let waiter = Thread {
                var status: Int32 = 0
                while waitpid(child, &status, 0) < 0 && errno == EINTR {}
                // WIFEXITED / WEXITSTATUS; a signal shows as 128 + signal, as shells do.
                let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                c.resume(returning: code)
            }
            waiter.name = "evento-run-\(argv[0])"
            waiter.start()
        }
        killer.cancel()
        return CommandResult(status: status, output: readAll(out), errorOutput: readAll(err))
    }

    private static func temporaryFile() throws -> Int32 {
        let fd = evento_tmpfile_cloexec(NSTemporaryDirectory())
        guard fd >= 0 else { throw EventoError(.unavailable, "cannot create a temporary file: \(String(cString: strerror(errno)))") }
        return fd
    }

    private static func readAll(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if n <= 0 { break }
            bytes += buffer[0..<n]
            offset += off_t(n)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
