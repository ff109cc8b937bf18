import EventoCore
import Foundation
import Testing

/// What a client can send to hurt the server, through a real `evento serve`: causation chains deep
/// enough to overflow a recursive walk, absurd nesting, numbers a field cannot hold, flags it does not
/// know, bodies that are not JSON, and reads that would answer gigabytes.
@Suite(.sharedServer(arguments: ["--max-response-bytes", "524288"]))
struct HostileInputTests {
    /// Room for the 1,000 small links of a chain, not for 30 events of 20 KB.
    static let maxResponseBytes = 524_288

    /// `count` events of one entity, each caused by the one before.
    static func chain(_ prefix: String, entity: String, count: Int, payload: JSONValue = [:]) -> JSONValue {
        var events: [JSONValue] = []
        for i in 0..<count {
            var e: JSONObject = ["id": .string("\(prefix)-\(i)"), "entity": .string(entity), "type": "Linked", "payload": payload]
            if i > 0 {
                e["causationId"] = .string("\(prefix)-\(i - 1)")
                e["causationKind"] = "event"
            }
            events.append(.object(e))
        }
        return ["events": .array(events)]
    }

    static func padding(_ bytes: Int) -> JSONValue { ["pad": .string(String(repeating: "x", count: bytes))] }

    // MARK: Depth

    @Test func theTraceOfAnEightThousandEventChainIsCutAtItsDepthLimitsAndTheServerLives() async throws {
        let server = try SharedServer.current
        let posted = try await server.post("/events", json: Self.chain("deep", entity: "deep:1", count: 8000))
        #expect(posted.status == 201, "\(posted.text.prefix(300))")

        let forward = try await server.get("/trace/deep-0")
        try #require(forward.status == 200, "\(forward.text.prefix(300))")
        #expect(forward.json["truncated"] == true)
        var depth = 0
        var node = forward.json["descendants"]?[0]
        while let n = node {
            depth += 1
            if n["caused"] == [] {
                #expect(n["truncated"] == true, "the node where the tree was cut says so")
                #expect(n["id"] == .string("deep-\(depth)"))
            }
            node = n["caused"]?[0]
        }
        #expect(depth == 128)

        let backward = try await server.get("/trace/deep-7999")
        try #require(backward.status == 200)
        let chain = backward.json["chain"]?.arrayValue ?? []
        #expect(chain.count == 1000)
        #expect(chain.first?["id"] == "deep-7000")
        #expect(backward.json["chainTruncated"] == true)
        #expect(backward.json["truncated"] == nil, "nothing below the last event was cut")

        let short = try await server.get("/trace/deep-10")
        #expect(short.json["chainTruncated"] == nil)
        #expect(short.json["chain"]?[0]?["id"] == "deep-0")
        #expect(try await server.get("/healthz").status == 200)
    }

    @Test func aBodyNestedPastTheLimitIsA400ThatSaysHowDeep() async throws {
        let server = try SharedServer.current
        let body = #"{"entity":"nest:1","type":"X","payload":{"a":"# + String(repeating: "[", count: 100_000)
        let r = try await server.post("/events", body)
        #expect(r.status == 400)
        #expect(r.json["type"] == "/problems/malformed-json")
        #expect(r.json["detail"]?.stringValue?.hasPrefix("the request body is not valid JSON: nesting deeper than 512 levels at line 1") == true, "\(r.text)")

        // 500 levels is within the limit: stored and served back whole.
        let deep = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        let ok = try await server.post("/events", #"{"entity":"nest:2","type":"X","payload":{"a":"# + deep + "}}")
        #expect(ok.status == 201, "\(ok.text.prefix(300))")
        #expect(try await server.events(of: "nest:2").first?["payload"]?["a"]?.jsonText == deep)
    }

    @Test func avroBinaryOfARecursiveSchemaNestedAHundredThousandDeepIsA422() async throws {
        let server = try SharedServer.current
        let schema = #"[{"type":"record","name":"State","namespace":"rec","evento":"state","fields":[]},{"type":"record","name":"Node","namespace":"rec","evento":"event","fields":[{"name":"next","type":["null","Node"]}]}]"#
        #expect(try await server.request("PUT", "/schemas/rec", body: schema).status == 201)
        let id = try #require(try await server.get("/schemas/rec").json["schemaIds"]?["Node"]?.intValue)
        func event(depth: Int) -> String {
            let wire = [0, UInt8(id >> 24 & 0xFF), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)]
                + [UInt8](repeating: 0x02, count: depth) + [0x00]
            return #"{"entity":"rec:1","type":"Node","payloadAvro":"\#(Data(wire).base64EncodedString())"}"#
        }
        let deep = try await server.post("/events", event(depth: 100_000))
        #expect(deep.status == 422, "\(deep.text.prefix(300))")
        #expect(deep.json["field"] == "payloadAvro")
        #expect(deep.json["detail"] == "payloadAvro: cannot decode: Avro binary nested deeper than 128 levels")
        #expect(try await server.post("/events", event(depth: 20)).status == 201)

        // The same nesting as JSON: validation recurses per level, so it has a depth limit of its own.
        func json(depth: Int) -> String {
            #"{"entity":"rec:2","type":"Node","payload":"# + String(repeating: #"{"next":"#, count: depth) + "null"
                + String(repeating: "}", count: depth) + "}"
        }
        let deepJSON = try await server.post("/events", json(depth: 400))
        #expect(deepJSON.status == 422, "\(deepJSON.text.prefix(300))")
        #expect(deepJSON.json["detail"]?.stringValue?.hasSuffix(": nested deeper than 128 levels of records, arrays and maps") == true)
        #expect(try await server.post("/events", json(depth: 100)).status == 201)
        #expect(try await server.get("/healthz").status == 200)
    }

    // MARK: Numbers

    struct NumberCase: Sendable, CustomTestStringConvertible {
        var path = "/events"
        var body: String
        var field: String
        var detail: String
        var testDescription: String { body }
    }

    static let numbers: [NumberCase] = [
        NumberCase(body: #"{"entity":"checking:n1","type":"CashDeposited","payload":{"amount":100e-2,"balance":1}}"#, field: "payload.amount",
                   detail: "payload.amount: expected long (an integer literal, without fraction or exponent), got 1.0"),
        NumberCase(body: #"{"entity":"checking:n2","type":"CashDeposited","payload":{"amount":1e-99999999,"balance":1}}"#, field: "payload.amount",
                   detail: "payload.amount: number 1e-99999999 is too small for a 64-bit double (it underflows to 0)"),
        NumberCase(body: #"{"entity":"checking:n3","type":"CashDeposited","payload":{"amount":1,"balance":1e999}}"#, field: "payload.balance",
                   detail: "payload.balance: number 1e999 is too large for a 64-bit double (it overflows to infinity)"),
        NumberCase(body: #"{"entity":"savings:n4","type":"AccountOpened","payload":{"owner":"x","interestRate":1e-400}}"#, field: "payload.interestRate",
                   detail: "payload.interestRate: number 1e-400 is too small for a 64-bit double (it underflows to 0)"),
        NumberCase(body: #"{"events":[{"entity":"checking:n5","type":"CashDeposited","payload":{"amount":1,"balance":1}},{"entity":"checking:n5","type":"CashDeposited","payload":{"amount":2.5,"balance":3}}]}"#,
                   field: "events[1].payload.amount",
                   detail: "events[1].payload.amount: expected long, got 2.5"),
        NumberCase(path: "/commands", body: #"{"entity":"checking:n6","type":"DepositCash","payload":{"amount":5e0}}"#, field: "payload.amount",
                   detail: "payload.amount: expected long (an integer literal, without fraction or exponent), got 5.0"),
    ]

    @Test(arguments: numbers)
    func aNumberTheFieldCannotHoldExactlyIsA422NamingTheFieldAndWritesNothing(_ c: NumberCase) async throws {
        let server = try SharedServer.current
        let r = try await server.post(c.path, c.body)
        #expect(r.status == 422, "\(r.text)")
        #expect(r.json["type"] == "/problems/validation-failed")
        #expect(r.json["field"] == .string(c.field))
        #expect(r.json["detail"] == .string(c.detail))
        let entity = try #require(c.body.firstMatch(of: /"entity":"([a-z]+:n[0-9])"/)?.1)
        #expect(try await server.events(of: String(entity)) == [])
    }

    @Test func representableNumbersAreStoredAsTheFieldsTypeWantsThem() async throws {
        let server = try SharedServer.current
        let r = try await server.post("/events", #"{"entity":"savings:n7","type":"AccountOpened","payload":{"owner":"x","interestRate":25e-3}}"#)
        #expect(r.status == 201, "\(r.text)")
        #expect(r.json["payload"]?["interestRate"] == .double(0.025))
    }

    // MARK: Flags and content types

    @Test func anUnknownWaitValueIsA400NamingTheParameterAndSubmitsNothing() async throws {
        let server = try SharedServer.current
        let r = try await server.post("/commands?wait=yes", #"{"id":"flag-1","entity":"checking:f1","type":"DepositCash","payload":{"amount":5}}"#)
        #expect(r.status == 400)
        #expect(r.json["type"] == "/problems/invalid-request")
        #expect(r.json["field"] == "wait")
        #expect(r.json["detail"] == #"query parameter wait: expected true, false or tree, got "yes""#)
        #expect(try await server.get("/commands/flag-1").status == 404)

        let config = try await server.get("/config/checking.CashDeposited?defaultToGlobal=1")
        #expect(config.status == 400)
        #expect(config.json["error_code"] == 400)
        #expect(config.json["message"] == #"query parameter defaultToGlobal: expected true or false, got "1""#)
    }

    @Test(arguments: ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx", "json"])
    func aBodyThatIsNotDeclaredAsJSONIsA415(_ contentType: String) async throws {
        let server = try SharedServer.current
        let r = try await server.request(
            "POST", "/events", body: #"{"entity":"ct:1","type":"X","payload":{}}"#, headers: [("Content-Type", contentType)])
        #expect(r.status == 415, "\(r.text)")
        #expect(r.header("Content-Type") == "application/problem+json")
        #expect(r.json["type"] == "/problems/unsupported-media-type")
        #expect(r.json["field"] == "Content-Type")
        #expect(r.json["instance"] == "/events")
        #expect(r.json["detail"] == .string("Content-Type \(contentType) is not accepted: send the body as JSON, with Content-Type: application/json"))
        #expect(try await server.events(of: "ct:1") == [])
    }

    @Test func aBodyWithoutAContentTypeIsA415() async throws {
        let server = try SharedServer.current
        let body = #"{"entity":"ct:2","type":"X","payload":{}}"#
        let c = try RawConnection(port: server.port)
        c.send("POST /events HTTP/1.1\r\nHost: 127.0.0.1:\(server.port)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let answer = await c.read(until: "}", timeout: .seconds(5))
        #expect(answer.hasPrefix("HTTP/1.1 415"), "\(answer)")
        #expect(answer.contains("a request with a body needs Content-Type: application/json"))
        #expect(try await server.events(of: "ct:2") == [])
    }

    @Test(arguments: ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8", "application/cloudevents+json"])
    func jsonContentTypesAreAccepted(_ contentType: String) async throws {
        let server = try SharedServer.current
        let entity = "ct:\(abs(contentType.hashValue))"
        let r = try await server.request(
            "POST", "/events", body: #"{"entity":"\#(entity)","type":"X","payload":{}}"#, headers: [("Content-Type", contentType)])
        #expect(r.status == 201, "\(r.text)")
    }

    @Test func theSchemaRegistryTakesItsOwnContentTypeAndAnswersOthersInItsErrorFormat() async throws {
        let server = try SharedServer.current
        let ok = try await server.request(
            "PUT", "/config/checking.CashWithdrawn", body: #"{"compatibility":"BACKWARD"}"#,
            headers: [("Content-Type", "application/vnd.schemaregistry.v1+json")])
        #expect(ok.status == 200, "\(ok.text)")
        let refused = try await server.request(
            "PUT", "/config/checking.CashWithdrawn", body: #"{"compatibility":"NONE"}"#, headers: [("Content-Type", "text/plain")])
        #expect(refused.status == 415)
        #expect(refused.json["error_code"] == 415)
        #expect(refused.json["message"]?.stringValue?.hasPrefix("Content-Type text/plain is not accepted") == true)
        #expect(try await server.get("/config/checking.CashWithdrawn").json["compatibilityLevel"] == "BACKWARD")
    }

    @Test func aPostWithoutABodyNeedsNoContentType() async throws {
        let server = try SharedServer.current
        let r = try await server.request("POST", "/dead-letters/nothing-here/retry")
        #expect(r.status == 404, "\(r.text)")
    }

    // MARK: Response sizes

    /// Follows `next` links from `path` until they end; checks every page's size; returns the items.
    func allPages(_ server: ServerProcess, first path: String, items key: String, next: (JSONValue) -> String?) async throws -> [JSONValue] {
        var items: [JSONValue] = []
        var path: String? = path
        var pages = 0
        while let p = path {
            let r = try await server.get(p)
            try #require(r.status == 200, "\(r.text.prefix(300))")
            let page = r.json[key]?.arrayValue ?? []
            // Only a page of one item may be larger (tests running beside this one store such items).
            #expect(r.text.utf8.count <= Self.maxResponseBytes || page.count == 1, "\(p): \(r.text.utf8.count) bytes")
            items += page
            pages += 1
            try #require(pages < 100)
            path = page.isEmpty ? nil : next(r.json)
        }
        return items
    }

    @Test func aStreamOfLargeEventsIsServedInPagesUnderTheByteLimit() async throws {
        let server = try SharedServer.current
        for batch in 0..<3 {
            var events: [JSONValue] = []
            for i in 0..<10 {
                events.append(["id": .string("big-\(batch * 10 + i)"), "entity": "big:1", "type": "Large", "payload": Self.padding(20_000)])
            }
            #expect(try await server.post("/events", json: ["events": .array(events)]).status == 201)
        }
        let first = try await server.get("/entities/big:1/events?limit=300")
        #expect(first.text.utf8.count <= Self.maxResponseBytes)
        #expect(first.json["truncatedByBytes"] == true)
        let count = first.json["events"]?.arrayValue?.count ?? 0
        #expect((1..<30).contains(count))
        #expect(first.json["nextSequence"] == .int(Int64(count + 1)))

        let all = try await allPages(server, first: "/entities/big:1/events?limit=300", items: "events") { page in
            page["nextSequence"]?.intValue.map { "/entities/big:1/events?limit=300&fromSequence=\($0)" }
        }
        #expect(all.map { $0["id"] } == (0..<30).map { .string("big-\($0)") })

        // The global feed: the same events, paged by bytes, continued from lastPosition.
        let start = try #require(all.first?["position"]?.intValue) - 1
        let feed = try await allPages(server, first: "/events?limit=300&afterPosition=\(start)", items: "events") { page in
            page["lastPosition"]?.intValue.map { "/events?limit=300&afterPosition=\($0)" }
        }
        #expect(feed.filter { $0["entity"] == "big:1" }.map { $0["id"] } == all.map { $0["id"] })
    }

    @Test func oneEventLargerThanTheLimitIsStillServedAlone() async throws {
        let server = try SharedServer.current
        let events: JSONValue = ["events": [
            ["id": "huge-0", "entity": "huge:1", "type": "Large", "payload": Self.padding(600_000)],
            ["id": "huge-1", "entity": "huge:1", "type": "Large", "payload": [:]],
        ]]
        #expect(try await server.post("/events", json: events).status == 201)
        let r = try await server.get("/entities/huge:1/events")
        #expect(r.json["events"]?.arrayValue?.map { $0["id"] } == ["huge-0"])
        #expect(r.json["truncatedByBytes"] == true)
        #expect(r.json["nextSequence"] == 2)
    }

    @Test func aTraceOfLargeEventsStopsAtTheByteLimit() async throws {
        let server = try SharedServer.current
        #expect(try await server.post("/events", json: Self.chain("tb", entity: "tb:1", count: 30, payload: Self.padding(20_000))).status == 201)
        let forward = try await server.get("/trace/tb-0")
        #expect(forward.status == 200)
        #expect(forward.text.utf8.count <= Self.maxResponseBytes)
        #expect(forward.json["truncated"] == true)
        #expect(forward.json["truncatedByBytes"] == true)
        let backward = try await server.get("/trace/tb-29")
        #expect(backward.text.utf8.count <= Self.maxResponseBytes)
        #expect(backward.json["chainTruncated"] == true)
        #expect(backward.json["chain"]?.arrayValue?.last?["id"] == "tb-29")
    }

    @Test func deadLettersBeyondTheByteLimitAreListedWithoutTheirCommand() async throws {
        let server = try SharedServer.current
        let mode = server.dataDirectory + "/dl-mode"
        try "fail".write(toFile: mode, atomically: true, encoding: .utf8)
        let registered = try await server.register(
            Fixtures.python("dl-failing", kind: "handler", aggregate: "dl", script: Fixtures.function("switchable.py"), env: ["MODE_FILE": mode], maxAttempts: 1))
        #expect(registered.status == 201, "\(registered.text)")
        for i in 0..<20 {
            let r = try await server.post("/commands?wait=true", json: ["id": .string("dl-\(i)"), "entity": "dl:1", "type": "Run", "payload": Self.padding(40_000)])
            #expect(r.json["command"]?["status"] == "dead", "\(r.text.prefix(300))")
        }
        let r = try await server.get("/dead-letters?limit=100")
        #expect(r.text.utf8.count <= Self.maxResponseBytes)
        #expect(r.json["truncatedByBytes"] == true)
        let letters = r.json["deadLetters"]?.arrayValue ?? []
        #expect(Set(letters.compactMap { $0["id"]?.stringValue }) == Set((0..<20).map { "dl-\($0)" }))
        let withCommand = letters.filter { $0["command"] != nil }
        let without = letters.filter { $0["commandOmitted"] == true }
        #expect(withCommand.count >= 1 && withCommand.count < 20)
        #expect(withCommand.count + without.count == 20)
        #expect(without.allSatisfy { $0["command"] == nil && $0["attempts"] == 1 })
    }
}
