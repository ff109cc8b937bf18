#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EventoCore

/// An exclusive `flock` on `DIR/evento.lock`, held while the store is open, so two servers never write
/// the same database (the writer's caches assume it is the only writer).
final class DirectoryLock: @unchecked Sendable {
    // @unchecked: the descriptor is set once in init and only closed in deinit.
    private let fd: Int32

    init(directory: String) throws {
        let path = directory + "/evento.lock"
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EventoError(.unavailable, "cannot open \(path): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw EventoError(
                .unavailable, "the data directory \(directory) is in use by another Evento process")
        }
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}
