#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EventoCore
import Synchronization

/// An exclusive `flock` on `DIR/evento.lock`, held while the store is open, so two servers never write
/// the same database (the writer's caches assume it is the only writer).
final class DirectoryLock: @unchecked Sendable {
    // @unchecked: the descriptor is guarded by `mutex`.
    private let mutex = Mutex<Int32>(-1)

    init(directory: String) throws {
        let path = directory + "/evento.lock"
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EventoError(.unavailable, "cannot open \(path): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw EventoError(
                .unavailable, "the data directory \(directory) is in use by another Evento process")
        }
        mutex.withLock { $0 = fd }
    }

    /// Releases the lock; later calls do nothing.
    func release() {
        mutex.withLock { fd in
            guard fd >= 0 else { return }
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    deinit { release() }
}
