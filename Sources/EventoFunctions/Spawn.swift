#if canImport(Glibc)
    import Glibc
#endif
import CEventoSystem
import Foundation

/// Starts `command` (looked up on PATH) with `environment` as its whole environment, the given
/// descriptors as its stdin/stdout/stderr and no other descriptor of this process, in
/// `workingDirectory` when given. Returns the child's pid, or the errno that stopped it.
func spawnProcess(
    _ command: [String], environment: [String: String], stdin: Int32, stdout: Int32, stderr: Int32, workingDirectory: String? = nil
) -> Result<pid_t, SpawnFailure> {
    let argv = command.map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var child: pid_t = 0
    let rc = evento_spawn(&child, command[0], argv, envp, stdin, stdout, stderr, workingDirectory)
    return rc == 0 ? .success(child) : .failure(SpawnFailure(code: rc))
}

struct SpawnFailure: Error {
    var code: Int32
    var message: String { String(cString: strerror(code)) }
}
