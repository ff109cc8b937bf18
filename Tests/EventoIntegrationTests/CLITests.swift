import EventoCore
import Foundation
import Testing

/// The `evento` CLI against a running server.
@Suite struct CLITests {
    func run(_ arguments: [String]) async throws -> (status: Int32, out: String, err: String) {
        try await runProgram([Binaries.evento] + arguments)
    }

    @Test func publishEventsAndTraceWorkAgainstARunningServer() async throws {
        let server = try await ServerProcess()
        let url = ["--url", server.baseURL]
        let opened = try await run(["publish", "checking:7", "AccountOpened", #"{"owner":"Ann"}"#, "--id", "open-7"] + url)
        #expect(opened.status == 0, "\(opened.err)")
        #expect(try JSONParser.parse(opened.out)["sequence"] == 1)
        let deposited = try await run(["publish", "checking:7", "CashDeposited", #"{"amount":5,"balance":5}"#, "--causation-id", "open-7", "--expected-version", "1"] + url)
        #expect(deposited.status == 0, "\(deposited.err)")
        let conflict = try await run(["publish", "checking:7", "CashDeposited", #"{"amount":1,"balance":6}"#, "--expected-version", "1"] + url)
        #expect(conflict.status != 0)
        #expect(conflict.err.contains("entity checking:7 is at version 2, expected 1"))

        let lines = try await run(["events", "checking:7"] + url).out.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(try JSONParser.parse(String(lines[1]))["type"] == "CashDeposited")
        let feed = try await run(["events", "--after-position", "1"] + url).out.split(separator: "\n")
        #expect(feed.count == 1)

        let trace = try await run(["trace", "open-7"] + url)
        #expect(trace.status == 0)
        #expect(trace.out.contains("event AccountOpened checking:7#1  [open-7]"))
        #expect(trace.out.contains("└─ event CashDeposited checking:7#2"))

        let down = try await run(["events", "--url", "http://127.0.0.1:1"])
        #expect(down.status != 0)
        #expect(down.err.contains("cannot reach Evento at http://127.0.0.1:1"))
    }
}
