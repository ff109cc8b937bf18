import EventoCore
import EventoHTTP
import Foundation
import Testing

/// Connections that hold the server's resources without using them: idle ones, request heads sent a
/// byte at a time, bodies that trickle, more connections than descriptors, and long polls at shutdown.
@Suite struct ConnectionTests {
    @Test func idleConnectionsAndSlowRequestHeadsAreClosedAfterTheIdleTimeout() async throws {
        let server = try await ServerProcess(arguments: ["--idle-timeout-ms", "1000"])
        let silent = try RawConnection(port: server.port)
        let slow = try RawConnection(port: server.port)
        let kept = try RawConnection(port: server.port)
        let start = ContinuousClock.now
        // A request head that never ends: a byte every 100 ms.
        let trickle = Task {
            for byte in "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".utf8 {
                guard slow.send(String(UnicodeScalar(byte))) else { return ContinuousClock.now - start }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return ContinuousClock.now - start
        }
        // A kept-alive connection after one answer.
        kept.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\n\r\n")
        let answer = await kept.read(until: "}", timeout: .seconds(5))
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")

        #expect(await silent.read(for: .seconds(5)) == .closed(received: ""))
        let silentFor = ContinuousClock.now - start
        #expect(silentFor >= .milliseconds(900) && silentFor < .seconds(5), "the silent connection lasted \(silentFor)")
        #expect(await kept.read(for: .seconds(3)) == .closed(received: ""))
        let slowFor = await trickle.value
        // Sent whole, it would take 5.5 s: cut well before, even on a loaded machine (4.2 s seen in a full run).
        #expect(slowFor < .seconds(5), "the slow head was sent for \(slowFor)")
    }

    @Test func aBodyThatTricklesIsCutOffWith408() async throws {
        let server = try await ServerProcess(arguments: ["--idle-timeout-ms", "5000", "--body-timeout-ms", "1000"])
        let c = try RawConnection(port: server.port)
        c.send("POST /events HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        let start = ContinuousClock.now
        let trickle = Task {
            for _ in 0..<60 {
                guard c.send(" ") else { return }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        let answer = await c.read(until: "}", timeout: .seconds(5))
        let elapsed = ContinuousClock.now - start
        trickle.cancel()
        #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer)")
        #expect(answer.contains("/problems/request-timeout"))
        #expect(answer.lowercased().contains("connection: close"))
        #expect(elapsed < .seconds(5), "answered after \(elapsed)")
        if case .open = await c.read(for: .seconds(2)) { Issue.record("the connection stayed open after the 408") }
    }

    @Test func connectionsBeyondTheLimitWaitUntilIdleOnesAreClosed() async throws {
        let server = try await ServerProcess(arguments: ["--max-connections", "4", "--idle-timeout-ms", "2000"])
        let opened = ContinuousClock.now
        let idle = try (0..<4).map { _ in try RawConnection(port: server.port) }
        // Let the server accept the four first: it accepts up to four connections per read of its listening
        // socket, so connections that arrive together can overshoot the limit by a few.
        try await Task.sleep(for: .milliseconds(400))
        let waiting = try RawConnection(port: server.port)
        waiting.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\n\r\n")
        let answer = await waiting.read(until: "}", timeout: .seconds(10))
        let waited = ContinuousClock.now - opened
        #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
        // Without the limit the answer takes milliseconds; with it, the fifth connection is accepted only when the
        // idle timeout has closed the four (a busy machine only makes the wait longer).
        #expect(waited >= .milliseconds(1800), "a fifth connection was served after \(waited), beside four open ones")
        withExtendedLifetime(idle) {}
    }

    @Test func theConnectionLimitDefaultsBelowTheDescriptorLimit() async throws {
        let server = try await ServerProcess(arguments: ["--log-level", "info"])
        try await eventually(timeout: .seconds(5), "the server logs its connection limit") {
            server.serverLog.contains("connections: at most")
        }
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let expected = max(16, min(Int(limit.rlim_cur) - 256, 10_000))
        #expect(server.serverLog.contains("connections: at most \(expected) (descriptor limit \(limit.rlim_cur))"), "\(server.serverLog)")
    }

    @Test func shutdownAnswersPendingLongPollsAtOnce() async throws {
        let server = try await ServerProcess(arguments: ["--idle-timeout-ms", "60000"])
        let process = try #require(server.process)
        #expect(try await server.register(
            Fixtures.python("sleepy", kind: "handler", aggregate: "sleepy", script: Fixtures.function("slow.py"), env: ["STATE_DIR": server.dataDirectory], timeoutMs: 60_000)
        ).status == 201)
        let head = try #require(try await server.get("/healthz").json["headPosition"]?.intValue)
        let client = HTTPClient()
        defer { client.shutdown() }
        let url = server.baseURL
        let poll = Task {
            try await client.execute(HTTPClientRequest(url: url + "/events?afterPosition=\(head)&waitMs=45000", timeout: .seconds(60)))
        }
        let command = Task {
            try await client.execute(HTTPClientRequest(
                method: "POST", url: url + "/commands?wait=true&timeoutMs=45000",
                body: Array(#"{"id":"sleepy-1","entity":"sleepy:1","type":"Nap","payload":{}}"#.utf8), timeout: .seconds(60)))
        }
        try await eventually(timeout: .seconds(10), "the handler is called") {
            FileManager.default.fileExists(atPath: server.dataDirectory + "/sleepy-1.pid")
        }
        try await Task.sleep(for: .milliseconds(200))

        let start = ContinuousClock.now
        process.terminate()
        let polled = try await poll.value
        let pollAnsweredAfter = ContinuousClock.now - start
        #expect(polled.status == 200)
        #expect(try JSONParser.parse(polled.body)["events"] == [])
        let sent = try await command.value
        let commandAnsweredAfter = ContinuousClock.now - start
        #expect(sent.status == 202, "\(sent.bodyText)")
        #expect(try JSONParser.parse(sent.body)["status"] == "pending")
        // Answered at once (within a second when the machine is idle; the bound leaves room for a busy test run),
        // not at the 45 s deadlines.
        #expect(pollAnsweredAfter < .seconds(3), "the long poll answered \(pollAnsweredAfter) after SIGTERM")
        #expect(commandAnsweredAfter < .seconds(3), "the waiting command answered \(commandAnsweredAfter) after SIGTERM")
        while process.isRunning && ContinuousClock.now - start < .seconds(15) { try await Task.sleep(for: .milliseconds(20)) }
        let exitedAfter = ContinuousClock.now - start
        #expect(!process.isRunning, "\(server.serverLog.suffix(3000))")
        // The handler's call is stuck: it gets the 2 s grace, then its worker is stopped (0.25 s after end-of-file).
        #expect(exitedAfter < .seconds(6), "the server took \(exitedAfter) to exit; its log ends:\n\(server.serverLog.suffix(3000))")
        // Each stage is logged; the stuck worker was signalled 0.25 s after end-of-file (not after another 2 s).
        let log = server.serverLog
        for stage in ["shutting down: SIGTERM", "shutdown: HTTP server stopped", "shutdown: pipeline stopped", "shutdown: functions stopped", "shutdown: store closed"] {
            #expect(log.contains(stage), "\(stage): \(log.suffix(3000))")
        }
        #expect(log.contains("did not exit within 0.25 seconds of end-of-file"), "\(log.suffix(3000))")
    }
}

/// A request refused before its body is read must not let the client hold the connection by trickling the
/// body that Hummingbird drains after the answer.
@Suite struct SlowBodyTests {
    /// Sends a request head with `Content-Length: length`, then a byte every 100 ms; returns the answer, and
    /// whether the server closed the connection within `within` of the answer's start.
    func trickle(_ server: ServerProcess, length: Int, headers: String = "", within: Duration) async -> (answer: String, closed: Bool) {
        guard let c = try? RawConnection(port: server.port) else { return ("no connection", false) }
        c.send("POST /events HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\nContent-Type: application/json\r\n\(headers)Content-Length: \(length)\r\n\r\n{")
        let sender = Task {
            for _ in 0..<100 {
                guard c.send(" ") else { return }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        defer { sender.cancel() }
        let answer = await c.read(until: "}", timeout: .seconds(5))
        if case .closed = await c.read(for: within) { return (answer, true) }
        return (answer, false)
    }

    @Test func anOversizedBodyIsRefusedAtOnceAndItsConnectionClosedWithinTheBodyTimeout() async throws {
        let server = try await ServerProcess(arguments: ["--idle-timeout-ms", "5000", "--body-timeout-ms", "1000"])
        let start = ContinuousClock.now
        let (answer, closed) = await trickle(server, length: 100_000_000, within: .seconds(4))
        #expect(answer.hasPrefix("HTTP/1.1 413"), "\(answer)")
        #expect(answer.lowercased().contains("connection: close"))
        #expect(closed, "the connection stayed open \(ContinuousClock.now - start) while the body trickled")
    }

    @Test func aRequestRefusedForItsTokenCannotHoldTheConnectionWithASlowBody() async throws {
        let server = try await ServerProcess(
            arguments: ["--idle-timeout-ms", "5000", "--body-timeout-ms", "1000"], environment: ["EVENTO_ADMIN_TOKEN": "s3cret"])
        let (answer, closed) = await trickle(server, length: 1000, within: .seconds(4))
        #expect(answer.hasPrefix("HTTP/1.1 408"), "the body is read (within its time) before anything answers: \(answer)")
        #expect(closed)
        // A complete body gets the 401 as before.
        let r = try await server.post("/events", #"{"entity":"a:1","type":"X","payload":{}}"#)
        #expect(r.status == 401)
    }
}
