import EventoCore
import Foundation
import Testing

/// OpenTelemetry: spans exported over OTLP/HTTP to a receiver that decodes them with the reference
/// opentelemetry-proto definitions (Tests/Fixtures/otlp/receiver.py), linked into one trace per command.
@Suite(.serialized) struct TracingTests {
    /// The receiver: its port, and the spans it has decoded so far.
    final class Receiver: @unchecked Sendable {
        // @unchecked: its process is started in init and only stopped after.
        let process: ChildProcess
        let port: Int
        let spansFile: String

        init() async throws {
            let dir = NSTemporaryDirectory() + "evento-otlp-" + Identifiers.uuidV7()
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            spansFile = dir + "/spans.jsonl"
            let portFile = dir + "/port"
            let process = ChildProcess()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", Binaries.packageRoot + "/Tests/Fixtures/otlp/receiver.py", spansFile, portFile]
            // Its output to a file, not the test process's: a child holding that pipe keeps `swift test` waiting.
            _ = FileManager.default.createFile(atPath: dir + "/receiver.log", contents: nil)
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/receiver.log"))
            process.standardOutput = log
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            try process.run()
            self.process = process
            var port: Int?
            try await eventually(timeout: .seconds(20), "the OTLP receiver listens") {
                port = (try? String(contentsOfFile: portFile, encoding: .utf8)).flatMap { Int($0) }
                return port != nil || !process.isRunning
            }
            guard let port else { throw ReceiverFailed(description: "the OTLP receiver exited (is opentelemetry-proto installed? scripts/setup.sh)") }
            self.port = port
        }

        var spans: [JSONValue] {
            guard let text = try? String(contentsOfFile: spansFile, encoding: .utf8) else { return [] }
            return text.split(separator: "\n").compactMap { try? JSONParser.parse(Array($0.utf8)) }
        }

        func spans(inTrace trace: String) -> [JSONValue] { spans.filter { $0["traceId"]?.stringValue == trace } }

        /// SIGKILL (a child of the test process may inherit a mask that blocks SIGTERM), not waited for:
        /// `waitUntilExit` can hang a test's thread.
        func stop() { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    }

    struct ReceiverFailed: Error, CustomStringConvertible { let description: String }

    @Test func aCommandsTraceLinksTheRequestTheCommandItsFunctionCallsTheCommitAndTheKafkaPublish() async throws {
        let receiver = try await Receiver()
        defer { receiver.stop() }
        let broker = try await TansuBroker()
        let server = try await ServerProcess(
            arguments: ["--kafka-brokers", broker.address],
            environment: [
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(receiver.port)", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_SERVICE_NAME": "evento-under-test", "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20collector-token",
            ])
        let script = Fixtures.function("traced.py")
        for (name, kind) in [("traced-h", "handler"), ("traced-agg", "aggregator")] {
            #expect(try await server.register(Fixtures.python(name, kind: kind, aggregate: "traced", script: script)).status == 201)
        }
        let echo = Fixtures.python("echo", kind: "dispatcher", events: ["Echo"], script: Fixtures.function("echo_dispatch.py"))
        #expect(try await server.register(echo).status == 201)

        // Not sampled: Evento records nothing of it, and passes the context on as it came.
        let unsampledTrace = "0af7651916cd43dd8448eb211c80319d"
        let quiet = try await server.request(
            "POST", "/commands?wait=true", body: #"{"entity":"traced:q","type":"Trace","payload":{}}"#,
            headers: [("traceparent", "00-\(unsampledTrace)-b7ad6b7169203331-00")])
        #expect(quiet.json["command"]?["status"] == "succeeded", "\(quiet.text)")

        // Sampled: the client's span is the parent of Evento's request span.
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        let clientSpan = "00f067aa0ba902b7"
        let reply = try await server.request(
            "POST", "/commands?wait=true", body: #"{"entity":"traced:t","type":"Trace","payload":{}}"#,
            headers: [("traceparent", "00-\(trace)-\(clientSpan)-01")])
        #expect(reply.json["command"]?["status"] == "succeeded", "\(reply.text)")
        let commandId = try #require(reply.json["command"]?["id"]?.stringValue)

        var spans: [JSONValue] = []
        func named(_ name: String) -> JSONValue? { spans.first { $0["name"]?.stringValue == name } }
        try await eventually(timeout: .seconds(30), "the command's spans, its event's publish included, are exported") {
            spans = receiver.spans(inTrace: trace)
            return ["POST /commands", "command Trace", "handle traced-h", "commit", "publish kf-evento-events"].allSatisfy { named($0) != nil }
        }
        let http = try #require(named("POST /commands"))
        let command = try #require(named("command Trace"))
        let handle = try #require(named("handle traced-h"))
        let commit = try #require(named("commit"))
        let publish = try #require(named("publish kf-evento-events"))
        func id(_ s: JSONValue) -> String { s["spanId"]?.stringValue ?? "" }
        func parent(_ s: JSONValue) -> String { s["parentSpanId"]?.stringValue ?? "" }

        #expect(parent(http) == clientSpan, "the request's span is under the client's")
        #expect(http["kind"] == 2, "server")
        #expect(http["attributes"]?["http.route"] == "/commands")
        #expect(http["attributes"]?["http.response.status_code"] == 200)
        #expect(parent(command) == id(http), "the command's span is under the request's")
        #expect(command["attributes"]?["evento.command.id"] == .string(commandId))
        #expect(command["attributes"]?["evento.entity"] == "traced:t")
        #expect(parent(handle) == id(command) && handle["kind"] == 3, "the handler call is a client span under the command")
        #expect(parent(commit) == id(command), "the commit is under the command")
        // The aggregator is the handler's own program: one call folds too (no separate aggregate span), or a
        // second call whose span is also under the command.
        if let fold = named("aggregate traced-agg") { #expect(parent(fold) == id(command)) }
        #expect(publish["kind"] == 4 && publish["attributes"]?["messaging.destination.name"] == "kf-evento-events")
        for s in [http, command, handle, commit, publish] {
            #expect(s["resource"]?["service.name"] == "evento-under-test")
            #expect(s["scope"] == "evento")
            #expect(s["authorization"] == "Bearer collector-token", "OTEL_EXPORTER_OTLP_HEADERS are sent")
            #expect((s["start"]?.intValue ?? 0) > 0 && (s["end"]?.intValue ?? 0) >= (s["start"]?.intValue ?? 0))
            #expect(s["status"]?["code"] == 0, "\(s)")
        }

        // The handler saw its call's span as its traceparent (the runtime passes it to user code), and the
        // event it produced names the command's span: the publish goes under it.
        let event = try #require(try await server.events(of: "traced:t").first)
        #expect(event["payload"]?["seen"] == .string("00-\(trace)-\(id(handle))-01"))
        #expect(event["traceparent"] == .string("00-\(trace)-\(id(command))-01"))
        #expect(parent(publish) == id(command))

        // An event published over HTTP, its dispatch, and the command the dispatcher returned: one trace.
        let trace2 = "5bf92f3577b34da6a3ce929d0e0e4737"
        let published = try await server.request(
            "POST", "/events",
            body: #"{"entity":"echo:1","type":"Echo","payload":{"commands":[{"entity":"traced:d","type":"Trace","payload":{}}]}}"#,
            headers: [("traceparent", "00-\(trace2)-00f067aa0ba902b8-01")])
        #expect(published.status == 201, "\(published.text)")
        try await eventually(timeout: .seconds(30), "the dispatched command's spans are exported") {
            spans = receiver.spans(inTrace: trace2)
            return ["POST /events", "dispatch echo", "command Trace", "handle traced-h"].allSatisfy { named($0) != nil }
        }
        let postEvents = try #require(named("POST /events"))
        let dispatch = try #require(named("dispatch echo"))
        let dispatched = try #require(named("command Trace"))
        #expect(parent(dispatch) == id(postEvents), "the dispatch is under the request that published the event")
        #expect(parent(dispatched) == id(dispatch), "the dispatched command is under its dispatch")

        #expect(receiver.spans(inTrace: unsampledTrace).isEmpty, "nothing of an unsampled trace is recorded")
        let quietEvent = try #require(try await server.events(of: "traced:q").first)
        #expect(quietEvent["traceparent"]?.stringValue?.hasPrefix("00-\(unsampledTrace)-") == true)
        #expect(quietEvent["traceparent"]?.stringValue?.hasSuffix("-00") == true)
        #expect(await server.stop(), "graceful shutdown with the exporter running")
        await broker.stop()
    }

    @Test(arguments: [
        (["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"], "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"),
        (["OTEL_TRACES_SAMPLER": "jaeger_remote"], "OTEL_TRACES_SAMPLER=jaeger_remote"),
        (["OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"], "OTEL_TRACES_SAMPLER_ARG=1.5"),
    ])
    func anExporterSettingEventoCannotHonourStopsTheServerWithTheVariablesName(settings: [String: String], named: String) async throws {
        let run = try await runProgram(
            [Binaries.evento, "serve", "--port", "0", "--data-dir", NSTemporaryDirectory() + "evento-otlp-" + Identifiers.uuidV7()],
            environment: ProcessInfo.processInfo.environment.merging(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"].merging(settings) { $1 }) {
                $1
            }, timeout: .seconds(30))
        #expect(run.status != 0)
        #expect(run.err.contains(named), "\(run.err)")
    }

    /// `parentbased_traceidratio` at 0: a request that starts a trace records nothing, and what it causes
    /// carries its context flagged not sampled (so no function or later hop records it either); a request
    /// under a sampled parent is still recorded.
    @Test func aSamplerLeavesOutNewTracesAndFollowsSampledParents() async throws {
        let receiver = try await Receiver()
        defer { receiver.stop() }
        let server = try await ServerProcess(environment: [
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(receiver.port)", "OTEL_BSP_SCHEDULE_DELAY": "100",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0",
        ])
        let script = Fixtures.function("traced.py")
        #expect(try await server.register(Fixtures.python("traced-h", kind: "handler", aggregate: "traced", script: script)).status == 201)

        let unsampled = try await server.request("POST", "/commands?wait=true", body: #"{"entity":"traced:n","type":"Trace","payload":{}}"#)
        #expect(unsampled.json["command"]?["status"] == "succeeded", "\(unsampled.text)")
        let event = try #require(try await server.events(of: "traced:n").first)
        let traceparent = try #require(event["traceparent"]?.stringValue)
        #expect(traceparent.hasSuffix("-00"), "a left-out trace propagates as not sampled: \(traceparent)")
        #expect(event["payload"]?["seen"]?.stringValue?.hasSuffix("-00") == true, "the handler saw it not sampled: \(event)")
        let leftOut = String(traceparent.split(separator: "-")[1])

        let trace = "6bf92f3577b34da6a3ce929d0e0e4738"
        let sampled = try await server.request(
            "POST", "/commands?wait=true", body: #"{"entity":"traced:s","type":"Trace","payload":{}}"#,
            headers: [("traceparent", "00-\(trace)-00f067aa0ba902b9-01")])
        #expect(sampled.json["command"]?["status"] == "succeeded", "\(sampled.text)")
        try await eventually(timeout: .seconds(30), "the sampled command's spans are exported") {
            Set(receiver.spans(inTrace: trace).compactMap { $0["name"]?.stringValue }).isSuperset(of: ["POST /commands", "command Trace", "commit"])
        }
        // Exports go in order: the left-out command's spans would have come first.
        #expect(receiver.spans(inTrace: leftOut).isEmpty)
        #expect(Set(receiver.spans.compactMap { $0["traceId"]?.stringValue }) == [trace], "only the sampled trace is recorded")
        #expect(await server.stop())
    }
}
