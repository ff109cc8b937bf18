#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How many client connections the server holds at once by default.
///
/// Each connection is a file descriptor. Accepting until the process runs out of them leaves the store,
/// function workers (pipes), outbound HTTP and Kafka without any, and NIO's accept loop spinning on
/// EMFILE; so the server stops accepting `reserve` descriptors below the soft `RLIMIT_NOFILE`. Connections
/// beyond the limit wait in the listen backlog until one closes.
enum ConnectionLimit {
    /// Descriptors kept for everything that is not a client connection.
    static let reserve = 256
    /// Fewest connections, however low the descriptor limit.
    static let minimum = 16
    /// Most connections by default, however high the descriptor limit (each holds buffers and a task).
    static let maximum = 10_000

    /// The soft `RLIMIT_NOFILE`, nil when unlimited.
    static var descriptorLimit: Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return nil }  // RLIM_INFINITY (its macro does not import)
        return Int(clamping: limit.rlim_cur)
    }

    /// The default: the soft descriptor limit less the reserve, within `minimum…maximum`.
    static func defaultLimit(descriptors: Int? = descriptorLimit) -> Int {
        guard let descriptors else { return maximum }
        return max(minimum, min(descriptors - reserve, maximum))
    }
}
