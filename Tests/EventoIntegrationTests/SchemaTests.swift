import EventoCore
import Foundation
import Testing

/// Validation of every payload, the schema registry and Avro interoperability, through the real server.
@Suite struct SchemaTests {
    struct Invalid: CustomTestStringConvertible, Sendable {
        var name: String
        var path = "/events"
        var body: String
        var detail: String
        var field: String
        var testDescription: String { name }
    }

    static let invalid: [Invalid] = [
        Invalid(name: "a field of the wrong type", body: #"{"entity":"checking:1","type":"CashDeposited","payload":{"amount":"ten","balance":10}}"#,
                detail: #"payload.amount: expected long, got "ten""#, field: "payload.amount"),
        Invalid(name: "an unknown field", body: #"{"entity":"checking:1","type":"CashDeposited","payload":{"amout":10,"amount":10,"balance":10}}"#,
                detail: #"payload: unknown field "amout""#, field: "payload.amout"),
        Invalid(name: "a missing field", body: #"{"entity":"checking:1","type":"CashDeposited","payload":{"amount":10}}"#,
                detail: "payload.balance: is required (a long)", field: "payload.balance"),
        Invalid(name: "a type that is not an event", body: #"{"entity":"checking:1","type":"Deposite","payload":{}}"#,
                detail: #"type "Deposite" is not an event of aggregate checking; its events are AccountClosed, AccountOpened, CashDeposited, CashWithdrawn, CommandRejected, WithdrawalRejected"#,
                field: "type"),
        Invalid(name: "a command posted as an event", body: #"{"entity":"checking:1","type":"DepositCash","payload":{"amount":1}}"#,
                detail: #"type "DepositCash" is not an event of aggregate checking (it is a command); its events are AccountClosed, AccountOpened, CashDeposited, CashWithdrawn, CommandRejected, WithdrawalRejected"#,
                field: "type"),
        Invalid(name: "an error deep in a batch", body: #"{"events":[{"entity":"checking:1","type":"AccountOpened","payload":{"owner":"A"}},{"entity":"checking:1","type":"CashDeposited","payload":{"amount":1.5,"balance":1}}]}"#,
                detail: "events[1].payload.amount: expected long, got 1.5", field: "events[1].payload.amount"),
        Invalid(name: "an aggregate without a schema", body: #"{"entity":"unknown:1","type":"Happened","payload":{}}"#,
                detail: "aggregate unknown has no schema: add schemas/unknown.avsc or PUT /schemas/unknown (or start the server with --allow-schemaless)",
                field: "payload"),
        Invalid(name: "a command payload", path: "/commands", body: #"{"entity":"checking:1","type":"DepositCash","payload":{"amount":"ten"}}"#,
                detail: #"payload.amount: expected long, got "ten""#, field: "payload.amount"),
        Invalid(name: "a type that is not a command", path: "/commands", body: #"{"entity":"checking:1","type":"CashDeposited","payload":{"amount":1,"balance":1}}"#,
                detail: #"type "CashDeposited" is not a command of aggregate checking (it is an event); its commands are CloseAccount, DepositCash, OpenAccount, WithdrawCash"#,
                field: "type"),
        Invalid(name: "an enum symbol", path: "/events", body: #"{"entity":"transfer:1","type":"TransferRequested","payload":{"from":"a:1","to":"b:1","amount":null}}"#,
                detail: "payload.amount: expected long, got null", field: "payload.amount"),
    ]

    @Test(arguments: invalid)
    func invalidPayloadsAreRefusedWithTheFieldAndTheExpectation(_ c: Invalid) async throws {
        let server = try await ServerProcess(strictSchemas: true)
        let r = try await server.post(c.path, c.body)
        #expect(r.status == 422, "\(r.text)")
        #expect(r.header("Content-Type") == "application/problem+json")
        #expect(r.json["type"] == "/problems/validation-failed")
        #expect(r.json["detail"] == .string(c.detail))
        #expect(r.json["field"] == .string(c.field))
        #expect(try await server.get("/healthz").json["headPosition"] == 0)
    }

    @Test func storedPayloadsAreNormalisedAndCarryTheirSchemaId() async throws {
        let server = try await ServerProcess(strictSchemas: true)
        // overdraftLimit has a default: it is filled in; fields come out in schema order.
        let r = try await server.post("/events", #"{"entity":"checking:1","type":"AccountOpened","payload":{"owner":"Ann"}}"#)
        #expect(r.status == 201)
        #expect(r.json["payload"]?.objectValue?.keys == ["owner", "overdraftLimit"])
        #expect(r.json["payload"]?["overdraftLimit"] == 0)
        let schemaId = try #require(r.json["schemaId"]?.intValue)
        let subject = try await server.get("/subjects/checking.AccountOpened/versions/latest")
        #expect(subject.header("Content-Type") == "application/vnd.schemaregistry.v1+json")
        #expect(subject.json["id"] == .int(schemaId))
        #expect(subject.json["version"] == 1)
        let schema = try JSONParser.parse(try #require(subject.json["schema"]?.stringValue))
        #expect(schema["name"] == "AccountOpened")
        #expect(schema["namespace"] == "checking")
        #expect(try await server.get("/schemas/ids/\(schemaId)").json["schema"] == subject.json["schema"])
        let subjects = try await server.get("/subjects").json.arrayValue ?? []
        #expect(subjects.contains("checking.CheckingAccount"))
        #expect(subjects.contains("savings.DepositCash"))
        #expect(try await server.get("/schemas/checking").json["version"] == 1)
    }

    @Test func anInvalidEventFromAHandlerIsNotStoredAndTheCommandIsRetried() async throws {
        let server = try await ServerProcess(strictSchemas: true)
        let r = try await server.register(
            Fixtures.python("checking-handler", kind: "handler", aggregate: "checking", script: Fixtures.function("invalid_first.py")))
        #expect(r.status == 201, "\(r.text)")
        let done = try await server.send("checking:9", "DepositCash", ["amount": 25])
        #expect(done.json["command"]?["status"] == "succeeded")
        #expect(done.json["command"]?["attempts"] == 2)
        let events = try await server.events(of: "checking:9")
        #expect(events.count == 1)
        #expect(events.first?["payload"] == ["amount": 25, "balance": 25, "transfer": nil])
        let log = server.serverLog
        #expect(log.contains(#"returned an invalid event: events[0].payload.amount: expected long, got \"ten\""#) || log.contains(#"events[0].payload.amount: expected long, got "ten""#))
    }

    @Test func aCompatibleChangeIsAcceptedAndOldEventsStillRead() async throws {
        let server = try await ServerProcess(strictSchemas: true)
        let old = try await server.post("/events", #"{"id":"old-1","entity":"checking:2","type":"CashDeposited","payload":{"amount":5,"balance":5}}"#)
        let oldId = try #require(old.json["schemaId"]?.intValue)
        // CashDeposited gains an optional field with a default: BACKWARD compatible.
        var schema = try JSONParser.parse(try String(contentsOfFile: Fixtures.root + "/schemas/checking.avsc", encoding: .utf8)).arrayValue ?? []
        let i = try #require(schema.firstIndex { $0["name"] == "CashDeposited" })
        var record = schema[i].objectValue!
        var fields = record["fields"]!.arrayValue!
        fields.append(["name": "note", "type": ["null", "string"], "default": nil])
        record["fields"] = .array(fields)
        schema[i] = .object(record)
        let put = try await server.request("PUT", "/schemas/checking", body: JSONValue.array(schema).jsonText)
        #expect(put.status == 201, "\(put.text)")
        #expect(put.json["version"] == 2)
        let v2 = try await server.get("/subjects/checking.CashDeposited/versions/latest").json
        #expect(v2["version"] == 2)
        #expect(v2["id"] != .int(oldId))

        #expect(try await server.get("/events/old-1").json["payload"] == ["amount": 5, "balance": 5, "transfer": nil])
        #expect(try await server.get("/events/old-1").json["schemaId"] == .int(oldId))
        #expect(try await server.get("/schemas/ids/\(oldId)").status == 200)
        let new = try await server.post("/events", #"{"entity":"checking:2","type":"CashDeposited","payload":{"amount":1,"balance":6}}"#)
        #expect(new.json["payload"] == ["amount": 1, "balance": 6, "transfer": nil, "note": nil])
        #expect(new.json["schemaId"] == v2["id"])
        // The registry survives a restart; the same file again is no new version.
        try await server.restart()
        let again = try await server.request("PUT", "/schemas/checking", body: JSONValue.array(schema).jsonText)
        #expect(again.status == 200)
        #expect(again.json["changed"] == false)
        #expect(try await server.get("/subjects/checking.CashDeposited/versions").json == [1, 2])
    }

    @Test func anIncompatibleChangeIsRefusedNamingTheField() async throws {
        let server = try await ServerProcess(strictSchemas: true)
        var schema = try JSONParser.parse(try String(contentsOfFile: Fixtures.root + "/schemas/checking.avsc", encoding: .utf8)).arrayValue ?? []
        let i = try #require(schema.firstIndex { $0["name"] == "CashDeposited" })
        var record = schema[i].objectValue!
        record["fields"] = .array(record["fields"]!.arrayValue! + [["name": "fee", "type": "long"]])
        schema[i] = .object(record)
        let put = try await server.request("PUT", "/schemas/checking", body: JSONValue.array(schema).jsonText)
        #expect(put.status == 409)
        #expect(put.json["detail"] == "the schema of checking is incompatible with the registered one: checking.CashDeposited (BACKWARD): new schema cannot read old data: checking.CashDeposited.fee: field fee was added without a default, so data written without it cannot be read")
        #expect(try await server.get("/subjects/checking.CashDeposited/versions").json == [1])

        // The Confluent API says the same to Kafka clients, in its own format.
        let check = try await server.post("/compatibility/subjects/checking.CashDeposited/versions/latest", JSONValue.object(["schema": .string(JSONValue.object(record).jsonText)]).jsonText)
        #expect(check.json["is_compatible"] == false)
        // Under NONE the same change is accepted.
        #expect(try await server.request("PUT", "/config/checking.CashDeposited", body: #"{"compatibility":"NONE"}"#).json == ["compatibility": "NONE"])
        #expect(try await server.get("/config/checking.CashDeposited").json == ["compatibilityLevel": "NONE"])
        #expect(try await server.request("PUT", "/schemas/checking", body: JSONValue.array(schema).jsonText).status == 201)
    }

    @Test func theConfluentAPIRegistersLooksUpAndAnswersInItsFormat() async throws {
        let server = try await ServerProcess(strictSchemas: true)
        let v1 = #"{"type":"record","name":"Click","namespace":"web","fields":[{"name":"url","type":"string"}]}"#
        let reg = try await server.post("/subjects/web.Click/versions", JSONValue.object(["schema": .string(v1)]).jsonText)
        #expect(reg.status == 200)
        let id = try #require(reg.json["id"]?.intValue)
        #expect(try await server.post("/subjects/web.Click/versions", JSONValue.object(["schema": .string(v1)]).jsonText).json["id"] == .int(id))
        let found = try await server.post("/subjects/web.Click", JSONValue.object(["schema": .string(v1)]).jsonText)
        #expect(found.json["version"] == 1)
        #expect(found.json["id"] == .int(id))
        let v2bad = #"{"type":"record","name":"Click","namespace":"web","fields":[{"name":"url","type":"string"},{"name":"ms","type":"long"}]}"#
        let refused = try await server.post("/subjects/web.Click/versions", JSONValue.object(["schema": .string(v2bad)]).jsonText)
        #expect(refused.status == 409)
        #expect(refused.json["error_code"] == 409)
        #expect(refused.json["message"]?.stringValue?.contains("web.Click.ms: field ms was added without a default") == true)
        let missing = try await server.get("/subjects/nope/versions")
        #expect(missing.status == 404)
        #expect(missing.json == ["error_code": 40401, "message": "Subject 'nope' not found."])
        #expect(try await server.get("/schemas/ids/9999").json["error_code"] == 40403)
        let invalid = try await server.post("/subjects/web.Bad/versions", #"{"schema":"{\"type\":\"record\"}"}"#)
        #expect(invalid.status == 422)
        #expect(invalid.json["error_code"] == 42201)
        // Aggregate subjects change only through their aggregate's schema file.
        let owned = try await server.post("/subjects/checking.CashDeposited/versions", JSONValue.object(["schema": .string(v1.replacingOccurrences(of: "web", with: "checking").replacingOccurrences(of: "Click", with: "CashDeposited"))]).jsonText)
        #expect(owned.status == 409)
        #expect(try await server.get("/config").json == ["compatibilityLevel": "BACKWARD"])
    }

    @Test func fastavroDecodesWhatEventoEncodesAndEventoDecodesWhatFastavroEncodes() async throws {
        let server = try await ServerProcess(strictSchemas: true)
        let definition = try String(contentsOfFile: Fixtures.root + "/Tests/Fixtures/avro/interop.avsc", encoding: .utf8)
        #expect(try await server.request("PUT", "/schemas/interop", body: definition).status == 201)
        let payload = #"""
        {"flag": true, "small": -7, "big": 9007199254740993, "ratio": 0.5, "precise": 3.141592653589793, "text": "grüße ☃",
         "raw": "\u0000\u00ff\u0001", "kind": "LARGE", "tag": "abc", "lines": [{"sku": "x-1", "qty": 2}],
         "attributes": {"weight": 12}, "maybe": "yes", "price": "1234.50", "day": "2026-11-28",
         "at": "2026-11-28T04:12:25.123Z", "ref": "6f9619ff-8b86-d011-b42d-00c04fc964ff"}
        """#
        let posted = try await server.post("/events", #"{"id":"interop-1","entity":"interop:1","type":"Recorded","payload":"# + payload + "}")
        #expect(posted.status == 201, "\(posted.text)")
        let stored = try #require(posted.json["payload"])
        #expect(stored["withDefault"] == "filled")

        let decoded = try await runProgram(["python3", Fixtures.root + "/Tests/Fixtures/avro/interop.py", "decode", server.baseURL, "interop-1"])
        #expect(decoded.status == 0, "\(decoded.err)")
        let fromFastavro = try JSONParser.parse(decoded.out)
        #expect(fromFastavro["schemaId"] == posted.json["schemaId"])
        #expect(fromFastavro["payload"] == stored)

        // The other way round: fastavro encodes, Evento decodes (payloadAvro) and stores the same payload.
        let schemaId = try #require(posted.json["schemaId"]?.intValue)
        var second = stored.objectValue!
        second["text"] = "from fastavro"
        second["maybe"] = nil
        let encoded = try await runProgram(["python3", Fixtures.root + "/Tests/Fixtures/avro/interop.py", "encode", server.baseURL, String(schemaId), JSONValue.object(second).jsonText])
        #expect(encoded.status == 0, "\(encoded.err)")
        let base64 = encoded.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let viaAvro = try await server.post("/events", JSONValue.object(["entity": "interop:1", "type": "Recorded", "payloadAvro": .string(base64)]).jsonText)
        #expect(viaAvro.status == 201, "\(viaAvro.text)")
        var expected = second
        expected["maybe"] = .null
        #expect(viaAvro.json["payload"] == .object(expected))
    }
}
