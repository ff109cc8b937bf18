import CEventoSystem
import Foundation
import Synchronization

/// Held while a test starts a process and while it writes a program: a child started while the program's
/// file is open for writing inherits that descriptor until it execs, and running the program then fails with
/// "Text file busy" (seen in a CI run: a server could not start a script a test had just written).
private let spawnLock = NSLock()

/// Writes an executable program (mode 0755) so that no process this test run starts holds it open.
func writeExecutable(_ text: String, to path: String) throws {
    spawnLock.lock()
    defer { spawnLock.unlock() }
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
}

/// A process a test starts: the part of Foundation's `Process` the tests use, spawned the way the server
/// spawns its workers (`evento_spawn`: posix_spawn with no blocked signals and nothing past stderr
/// inherited).
///
/// Not Foundation's `Process`: on Linux its `run()` lists /proc/self/fd with a copy of each whole
/// `dirent` and crashes now and then when one sits at the end of the readdir buffer
/// (swiftlang/swift-corelibs-foundation#5472, fixed after Swift 6.3.1; seen here as a memcpy crash in
/// `Process.run` in two CI runs). Its children also inherited the blocked signals of the thread that
/// started them, so SIGTERM could not stop them.
final class ChildProcess: @unchecked Sendable {
    // @unchecked: the configuration is set before `run()`, by one task; the exit state is behind a lock.
    var executableURL: URL?
    var arguments: [String] = []
    /// Nil: the test process's own environment.
    var environment: [String: String]?
    var currentDirectoryURL: URL?
    /// A `Pipe` or a `FileHandle`; nil: the test process's own.
    var standardInput: Any?
    var standardOutput: Any?
    var standardError: Any?

    private(set) var processIdentifier: Int32 = 0
    private let exit = Mutex<Int32?>(nil)

    struct SpawnFailed: Error, CustomStringConvertible { let description: String }

    func run() throws {
        guard let path = executableURL?.path else { throw SpawnFailed(description: "no executable") }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        spawnLock.lock()
        defer { spawnLock.unlock() }
        let rc = evento_spawn(
            &pid, path, argv, envp, Self.descriptor(standardInput, reading: true, otherwise: 0),
            Self.descriptor(standardOutput, reading: false, otherwise: 1), Self.descriptor(standardError, reading: false, otherwise: 2),
            currentDirectoryURL?.path)
        guard rc == 0 else { throw SpawnFailed(description: "cannot start \(path): \(String(cString: strerror(rc)))") }
        processIdentifier = pid
        // The child has its ends of the pipes: the test's copies would keep a reader from ever seeing
        // end-of-file.
        if let pipe = standardInput as? Pipe { try? pipe.fileHandleForReading.close() }
        for case let pipe as Pipe in [standardOutput, standardError] { try? pipe.fileHandleForWriting.close() }
    }

    /// The child's end of a stream.
    private static func descriptor(_ stream: Any?, reading: Bool, otherwise: Int32) -> Int32 {
        switch stream {
        case let pipe as Pipe: (reading ? pipe.fileHandleForReading : pipe.fileHandleForWriting).fileDescriptor
        case let handle as FileHandle: handle.fileDescriptor
        default: otherwise
        }
    }

    /// Reaps the child once it has exited (the first caller to see it does).
    var isRunning: Bool {
        guard processIdentifier > 0 else { return false }
        return exit.withLock { status in
            if status != nil { return false }
            guard evento_child_exited(processIdentifier, 0) == 1 else { return true }
            var raw: Int32 = 0
            while waitpid(processIdentifier, &raw, 0) < 0 && errno == EINTR {}
            // As Foundation reports it: the exit code, or the signal that ended it.
            status = raw & 0x7F == 0 ? (raw >> 8) & 0xFF : raw & 0x7F
            return false
        }
    }

    /// The exit code, or the number of the signal that ended the child (valid once `isRunning` is false).
    var terminationStatus: Int32 { exit.withLock { $0 } ?? 0 }

    func terminate() {
        if isRunning { kill(processIdentifier, SIGTERM) }
    }
}
