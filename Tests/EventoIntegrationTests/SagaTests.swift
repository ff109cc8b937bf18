import EventoCore
import Foundation
import Testing

/// The bank's transfer as a saga (functions/transfer/transfer.py, docs/sagas.md), on real servers with the
/// functions of functions/bank.json: its three endings (completed, failed, timed out and refunded), the
/// trace of the whole saga, and its internal steps refused from outside. Every ending checks that money is
/// neither lost nor created.
@Suite(.sharedServer(arguments: [])) struct SagaTests {
    @Test func aTransferWithdrawsThenDepositsAndCompletes() async throws {
        let server = try SharedServer.current
        try await BankRegistration.shared.ensure(on: server)
        try await open(server, "checking:ok-from", deposit: 100)
        try await open(server, "savings:ok-to", deposit: 5)

        // A timer far away: it stays scheduled while the saga runs (its answer is the rejected test's).
        let sent = try await requestTransfer(server, "transfer:ok", id: "saga-ok", from: "checking:ok-from", to: "savings:ok-to", amount: 30, timeoutMs: 600_000)
        #expect(sent.json["events"]?.arrayValue?.map { $0["type"] } == ["TransferRequested"], "\(sent.text)")
        try await eventually("the transfer completes") { try await status(server, "transfer:ok") == "COMPLETED" }

        #expect(try await balance(server, "checking:ok-from") == 70)
        #expect(try await balance(server, "savings:ok-to") == 35)
        let state = try await server.get("/aggregates/transfer:ok").json["state"]
        #expect(state == ["from": "checking:ok-from", "to": "savings:ok-to", "amount": 30, "status": "COMPLETED", "timeoutMs": 600_000, "reason": nil])
        let legs = try await server.events(of: "checking:ok-from").last
        #expect(legs?["type"] == "CashWithdrawn")
        #expect(legs?["payload"] == ["amount": 30, "balance": 70, "transfer": "transfer:ok"])

        // The trace of the request holds the whole saga, each step caused by the one before.
        let trace = try await server.get("/trace/saga-ok")
        #expect(trace.status == 200)
        let items = flatten(trace.json["descendants"])
        #expect(
            path(items, to: "TransferCompleted") == [
                "TransferRequested", "WithdrawCash", "CashWithdrawn", "RecordWithdrawal", "WithdrawalRecorded", "DepositCash", "CashDeposited",
                "RecordDeposit", "TransferCompleted",
            ])
        let timer = try #require(items.first { $0.type == "TimeoutTransfer" })
        #expect(timer.node["status"] == "scheduled")
        #expect(timer.parent == "TransferRequested")
        #expect(items.filter { $0.kind == "command" && $0.type != "TimeoutTransfer" }.allSatisfy { $0.node["status"] == "succeeded" })
        #expect(items.allSatisfy { $0.node["correlationId"] == "saga-ok" })
    }

    @Test func aRejectedWithdrawalFailsTheTransferAndDepositsNothing() async throws {
        let server = try SharedServer.current
        try await BankRegistration.shared.ensure(on: server)
        try await open(server, "savings:short-from", deposit: 10)
        try await open(server, "checking:short-to", deposit: 0)

        // wait=tree: the answer comes once nothing of the saga is pending or scheduled, its timer included.
        let body: JSONValue = [
            "id": "saga-short", "entity": "transfer:short", "type": "RequestTransfer",
            "payload": ["from": "savings:short-from", "to": "checking:short-to", "amount": 50, "timeoutMs": 1500],
        ]
        let tree = try await server.post("/commands?wait=tree", json: body)
        #expect(tree.status == 200, "\(tree.text)")
        #expect(tree.json["command"]?["status"] == "succeeded")
        #expect(tree.json["settled"] == true)
        let events = tree.json["events"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []
        #expect(events == ["TransferRequested", "WithdrawalRejected", "TransferFailed", "CommandRejected"], "\(tree.text)")
        let commands = tree.json["commands"]?.arrayValue ?? []
        #expect(Set(commands.compactMap { $0["type"]?.stringValue }) == ["WithdrawCash", "FailTransfer", "TimeoutTransfer"])
        #expect(commands.allSatisfy { $0["status"] == "succeeded" }, "\(tree.text)")
        let late = try #require(tree.json["events"]?.arrayValue?.last)
        #expect(late["entity"] == "transfer:short")
        #expect(late["payload"]?["command"] == "TimeoutTransfer", "the timer, after the end, changes nothing")

        let state = try await server.get("/aggregates/transfer:short").json["state"]
        #expect(state?["status"] == "FAILED")
        #expect(state?["reason"] == "insufficient funds")
        #expect(try await balance(server, "savings:short-from") == 10)
        #expect(try await balance(server, "checking:short-to") == 0)
        #expect(try await server.events(of: "checking:short-to").map { $0["type"] } == ["AccountOpened"], "the destination is never credited")
    }

    @Test func aRefusedDepositIsRefundedToTheSource() async throws {
        let server = try SharedServer.current
        try await BankRegistration.shared.ensure(on: server)
        try await open(server, "checking:back-from", deposit: 100)
        // savings:never is not open: its handler refuses the deposit (CommandRejected) after the withdrawal.
        _ = try await requestTransfer(server, "transfer:back", id: "saga-back", from: "checking:back-from", to: "savings:never", amount: 25, timeoutMs: 600_000)
        try await eventually("the money is refunded") { try await status(server, "transfer:back") == "REFUNDED" }
        #expect(try await server.get("/aggregates/transfer:back").json["state"]?["reason"] == "savings:never refused the deposit: DepositCash: the account is not open")
        #expect(try await balance(server, "checking:back-from") == 100)
        #expect(try await server.events(of: "checking:back-from").suffix(2).map { $0["type"] } == ["CashWithdrawn", "CashDeposited"])
        #expect(try await balance(server, "savings:never") == nil)
        let items = flatten(try await server.get("/trace/saga-back").json["descendants"])
        #expect(
            path(items, to: "TransferRefunded") == [
                "TransferRequested", "WithdrawCash", "CashWithdrawn", "RecordWithdrawal", "WithdrawalRecorded", "DepositCash", "CommandRejected",
                "FailTransfer", "RefundIssued", "DepositCash", "CashDeposited", "RecordDeposit", "TransferRefunded",
            ])
    }

    @Test func theSagasOwnStepsAreRefusedFromOutsideNamingTheType() async throws {
        let server = try SharedServer.current
        try await BankRegistration.shared.ensure(on: server)
        for (type, payload) in [("TimeoutTransfer", [:]), ("RecordWithdrawal", ["account": "checking:x", "amount": 1])] as [(String, JSONValue)] {
            let id = "internal-" + type
            let r = try await server.post("/commands", json: ["id": .string(id), "entity": "transfer:x", "type": .string(type), "payload": payload])
            #expect(r.status == 403, "\(r.text)")
            #expect(r.header("Content-Type")?.hasPrefix("application/problem+json") == true)
            #expect(r.json["detail"]?.stringValue?.contains(type) == true, "\(r.text)")
            #expect(try await server.get("/commands/\(id)").status == 404, "nothing was written")
        }
        // The client's command is not internal; an invalid one is a business rejection, like any other.
        let same = try await requestTransfer(server, "transfer:same", id: "saga-same", from: "checking:x", to: "checking:x", amount: 1, timeoutMs: 1000)
        #expect(same.json["events"]?[0]?["type"] == "CommandRejected")
        #expect(same.json["events"]?[0]?["payload"]?["reason"] == "from and to are the same account")
    }

    /// The withdrawal cannot run before the timeout: `from` is a savings account whose functions are not
    /// registered yet, so its WithdrawCash fails until it is dead. The transfer times out; then savings is
    /// registered and the dead withdrawal retried: it takes the money after the timeout, and the saga gives
    /// it back.
    @Test func aWithdrawalAfterTheTimeoutIsRefunded() async throws {
        let server = try await ServerProcess(strictSchemas: true)
        try await BankRegistration.register(on: server, only: { !$0.hasPrefix("savings-") })
        // The savings account is made of published events (it has no handler yet).
        let opened = try await server.post(
            "/events",
            json: ["events": [
                ["entity": "savings:slow", "type": "AccountOpened", "payload": ["owner": "Sam"]],
                ["entity": "savings:slow", "type": "CashDeposited", "payload": ["amount": 100, "balance": 100]],
            ]])
        #expect(opened.status == 201, "\(opened.text)")
        try await open(server, "checking:dest", deposit: 0)

        _ = try await requestTransfer(server, "transfer:slow", id: "saga-slow", from: "savings:slow", to: "checking:dest", amount: 40, timeoutMs: 200)
        try await eventually("the transfer times out") { try await status(server, "transfer:slow") == "TIMED_OUT" }
        let withdrawal = try #require(flatten(try await server.get("/trace/saga-slow").json["descendants"]).first { $0.type == "WithdrawCash" })
        let withdrawalId = try #require(withdrawal.node["id"]?.stringValue)
        try await eventually("the withdrawal is dead (no savings handler)") { try await server.command(withdrawalId)["status"] == "dead" }
        #expect(try await balance(server, "checking:dest") == 0)

        try await BankRegistration.register(on: server, only: { $0.hasPrefix("savings-") })
        #expect(try await server.post("/dead-letters/\(withdrawalId)/retry", "").status == 202)
        try await eventually("the late withdrawal is refunded") { try await status(server, "transfer:slow") == "REFUNDED" }

        let state = try await server.get("/aggregates/transfer:slow").json["state"]
        #expect(state?["reason"] == "the withdrawal came after the transfer ended: no withdrawal within 200 ms")
        // Nothing lost, nothing created: the money left and came back; the destination never saw it.
        #expect(try await balance(server, "savings:slow") == 100)
        #expect(try await balance(server, "checking:dest") == 0)
        let moves = try await server.events(of: "savings:slow").dropFirst(2).map { [$0["type"], $0["payload"]] }
        #expect(
            moves == [
                ["CashWithdrawn", ["amount": 40, "balance": 60, "transfer": "transfer:slow"]],
                ["CashDeposited", ["amount": 40, "balance": 100, "transfer": "transfer:slow"]],
            ])
        let items = flatten(try await server.get("/trace/saga-slow").json["descendants"])
        #expect(path(items, to: "TransferTimedOut") == ["TransferRequested", "TimeoutTransfer", "TransferTimedOut"])
        #expect(
            path(items, to: "TransferRefunded") == [
                "TransferRequested", "WithdrawCash", "CashWithdrawn", "RecordWithdrawal", "RefundIssued", "DepositCash", "CashDeposited",
                "RecordDeposit", "TransferRefunded",
            ])
        #expect(!items.contains { $0.type == "WithdrawalRecorded" }, "the deposit to the destination was never asked for")
    }

    // MARK: Helpers

    func open(_ server: ServerProcess, _ account: String, deposit: Int64) async throws {
        #expect(try await server.send(account, "OpenAccount", ["owner": "Ann"]).json["command"]?["status"] == "succeeded")
        if deposit > 0 {
            #expect(try await server.send(account, "DepositCash", ["amount": .int(deposit)]).json["command"]?["status"] == "succeeded")
        }
    }

    func requestTransfer(
        _ server: ServerProcess, _ entity: String, id: String, from: String, to: String, amount: Int64, timeoutMs: Int64
    ) async throws -> ServerProcess.Reply {
        let r = try await server.send(
            entity, "RequestTransfer", ["from": .string(from), "to": .string(to), "amount": .int(amount), "timeoutMs": .int(timeoutMs)], id: id)
        #expect(r.status == 200, "\(r.text)")
        #expect(r.json["command"]?["status"] == "succeeded", "\(r.text)")
        return r
    }

    func status(_ server: ServerProcess, _ transfer: String) async throws -> String? {
        try await server.get("/aggregates/\(transfer)").json["state"]?["status"]?.stringValue
    }

    func balance(_ server: ServerProcess, _ account: String) async throws -> Int64? {
        try await server.get("/aggregates/\(account)").json["state"]?["balance"]?.intValue
    }

    /// A trace's tree, depth first: each item with its kind, type and the type of the item that caused it.
    struct Item {
        var kind: String
        var type: String
        var parent: String?
        var node: JSONValue
    }

    func flatten(_ nodes: JSONValue?, parent: String? = nil) -> [Item] {
        (nodes?.arrayValue ?? []).flatMap { node -> [Item] in
            let type = node["type"]?.stringValue ?? ""
            return [Item(kind: node["kind"]?.stringValue ?? "", type: type, parent: parent, node: node)] + flatten(node["caused"], parent: type)
        }
    }

    /// The types from the top of the tree down to the first item of type `type`.
    func path(_ items: [Item], to type: String) -> [String] {
        var chain: [String] = []
        var i = items.lastIndex { $0.type == type }
        while let at = i {
            chain.insert(items[at].type, at: 0)
            guard let parent = items[at].parent else { break }
            i = items[..<at].lastIndex { $0.type == parent }
        }
        return chain
    }
}

/// Registers the bank's functions (functions/bank.json, with the checking function this build made) once per
/// server, however many of a suite's parallel tests ask for it.
actor BankRegistration {
    static let shared = BankRegistration()
    private var registered: [String: Task<Void, any Error>] = [:]

    func ensure(on server: ServerProcess) async throws {
        let task = registered[server.baseURL] ?? Task { try await Self.register(on: server) }
        registered[server.baseURL] = task
        try await task.value
    }

    /// bank.json's functions whose names pass `only`; the server runs in the package root, so the Python
    /// functions' relative paths hold.
    static func register(on server: ServerProcess, only: (String) -> Bool = { _ in true }) async throws {
        let file = try JSONParser.parse(try String(contentsOfFile: Fixtures.root + "/functions/bank.json", encoding: .utf8))
        for function in file["functions"]?.arrayValue ?? [] {
            guard var definition = function.objectValue, let name = definition["name"]?.stringValue, only(name) else { continue }
            if definition["transport"]?["process"]?["command"]?[0]?.stringValue?.hasSuffix("checking-function") == true {
                definition["transport"] = ["process": ["command": [.string(Fixtures.checkingFunction)], "workers": 1]]
            }
            let r = try await server.register(.object(definition))
            #expect(r.status == 201, "\(name): \(r.text)")
        }
    }
}
