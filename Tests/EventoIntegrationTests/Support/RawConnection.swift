import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP connection for what an HTTP client library will not do: stay silent, send a request
/// head a byte at a time, stop half-way through a body, count open connections.
final class RawConnection: @unchecked Sendable {
    // @unchecked: used by one test at a time; the descriptor is closed once, in deinit.
    let fd: Int32

    init(port: Int, host: String = "127.0.0.1") throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw ServerError("connect to \(host):\(port): \(message)")
        }
    }

    deinit { close(fd) }

    /// Sends all of `text`; false when the peer has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    enum ReadResult: Equatable {
        /// The server closed the connection (after sending `received`).
        case closed(received: String)
        /// Nothing more within the time; `received` is what came.
        case open(received: String)
    }

    /// Reads until the peer closes the connection or `timeout` passes, without blocking a cooperative
    /// thread for long (short polls with sleeps in between).
    func read(for timeout: Duration) async -> ReadResult {
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 65536)
        while ContinuousClock.now < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, 0) > 0 {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { return .closed(received: String(decoding: received, as: UTF8.self)) }
                received.append(contentsOf: buffer[0..<n])
                continue
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return .open(received: String(decoding: received, as: UTF8.self))
    }

    /// Reads until `marker` has arrived, the peer closes, or the timeout passes; returns what came.
    func read(until marker: String, timeout: Duration) async -> String {
        var received = ""
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            switch await read(for: .milliseconds(50)) {
            case .closed(let text): return received + text
            case .open(let text):
                received += text
                if received.contains(marker) { return received }
            }
        }
        return received
    }
}
