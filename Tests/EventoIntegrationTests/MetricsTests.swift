import EventoCore
import Foundation
import Testing

@Suite struct MetricsTests {
    /// The value of a sample line `name{labels} value` in a Prometheus exposition.
    func sample(_ text: String, _ prefix: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func metricsDescribeABankRun() async throws {
        let server = try await ServerProcess(strictSchemas: true)
        for name in ["checking-handler", "checking-aggregator"] {
            _ = try await server.register([
                "name": .string(name), "kind": .string(name.hasSuffix("handler") ? "handler" : "aggregator"), "aggregate": "checking",
                "transport": ["process": ["command": [.string(Fixtures.checkingFunction)], "workers": 1]],
            ])
        }
        #expect(try await server.send("checking:m1", "OpenAccount", ["owner": "M"]).json["command"]?["status"] == "succeeded")
        #expect(try await server.send("checking:m1", "DepositCash", ["amount": 10]).json["command"]?["status"] == "succeeded")
        #expect(try await server.send("checking:m1", "WithdrawCash", ["amount": 3]).json["command"]?["status"] == "succeeded")
        _ = try await server.get("/nowhere")
        let r = try await server.get("/metrics")
        #expect(r.status == 200)
        #expect(r.header("Content-Type")?.hasPrefix("text/plain") == true)
        let m = r.text
        #expect(sample(m, #"evento_commands_total{status="succeeded"}"#) == 3)
        #expect(sample(m, "evento_commands_accepted_total") == 3)
        #expect(sample(m, "evento_events_appended_total") == 3)
        #expect(sample(m, #"evento_function_calls_total{function="checking-handler",transport="process",outcome="ok"}"#) == 3)
        // The handler is the aggregator's own program: it folds in the same call, so the aggregator is never
        // called on its own, and the snapshot is right all the same.
        #expect(sample(m, #"evento_function_calls_total{function="checking-aggregator",transport="process",outcome="ok"}"#) ?? 0 == 0)
        let aggregate = try await server.get("/aggregates/checking:m1").json
        #expect(aggregate["version"] == 3)
        #expect(aggregate["state"]?["balance"] == 7)
        #expect(sample(m, #"evento_function_call_duration_seconds_count{function="checking-handler",transport="process"}"#) == 3)
        #expect(m.contains(#"evento_function_call_duration_seconds_bucket{function="checking-handler",transport="process",le="0.001"}"#))
        #expect((sample(m, "evento_store_group_size_count") ?? 0) >= 6)
        #expect((sample(m, "evento_store_commit_duration_seconds_count") ?? 0) >= 6)
        // The checkpointer reports the WAL's length (a multiple of the 4 KiB page size), bounded by --max-wal-bytes.
        let wal = try #require(sample(m, "evento_store_wal_bytes"))
        #expect(wal >= 0 && wal.truncatingRemainder(dividingBy: 4096) == 0 && wal <= Double(1 << 30), "\(wal)")
        #expect(sample(m, #"hb_requests{http_route="/commands",http_request_method="POST",http_response_status_code="200"}"#) == 3)
        #expect(sample(m, #"hb_requests{http_route="NotFound",http_request_method="GET",http_response_status_code="404"}"#) == 1)
        #expect(m.contains("evento_dispatch_lag_events"))
        #expect(m.contains("evento_command_backlog"))
        #expect((sample(m, "process_resident_memory_bytes") ?? 0) > 1_000_000)
    }
}
