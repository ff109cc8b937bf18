// The checking account aggregate: handler and aggregator, in Swift.
//
//   swift build --product checking-function
//   .build/debug/checking-function            # a worker on stdin/stdout (the process transport)
//   .build/debug/checking-function --http 9001  # an HTTP function
import EventoRuntime

struct Account: Codable {
    var owner: String
    var balance: Int64
    var overdraftLimit: Int64
    var status: String
}

struct Amount: Codable { var amount: Int64 }
struct Open: Codable {
    var owner: String
    var overdraftLimit: Int64?
}

/// A transfer's withdrawal or deposit carries the transfer's id (`transfer`); its event echoes it, so that the
/// transfer saga knows whose leg it was (docs/sagas.md). Other commands' events are as they always were.
func leg(_ command: Command, _ payload: JSONObject) -> JSONValue {
    var payload = payload
    if let transfer = command.payload["transfer"]?.stringValue { payload["transfer"] = .string(transfer) }
    return .object(payload)
}

func rejected(_ command: Command, _ reason: String) throws -> [Event] {
    [Event(type: "CommandRejected", payload: leg(command, ["command": .string(command.type), "reason": .string(reason)]))]
}

let checking = EventoFunction(
    handle: { command, aggregate in
        let account = try aggregate.state(as: Account.self)
        switch (command.type, account?.status) {
        case ("OpenAccount", nil):
            let open = try command.payload(as: Open.self)
            guard (open.overdraftLimit ?? 0) >= 0 else { return try rejected(command, "the overdraft limit must not be negative") }
            return [Event(type: "AccountOpened", payload: ["owner": .string(open.owner), "overdraftLimit": .int(open.overdraftLimit ?? 0)])]
        case ("OpenAccount", _):
            return try rejected(command, "the account is already open")
        case (_, nil):
            return try rejected(command, "the account is not open")
        case (_, "CLOSED"):
            return try rejected(command, "the account is closed")
        case ("DepositCash", _):
            let amount = try command.payload(as: Amount.self).amount
            guard amount > 0 else { return try rejected(command, "the amount must be positive") }
            // Checked arithmetic: an overflow would trap and take the worker down with every retry.
            let (balance, overflow) = account!.balance.addingReportingOverflow(amount)
            guard !overflow else { return try rejected(command, "the amount is too large: the balance would pass \(Int64.max)") }
            return [Event(type: "CashDeposited", payload: leg(command, ["amount": .int(amount), "balance": .int(balance)]))]
        case ("WithdrawCash", _):
            let amount = try command.payload(as: Amount.self).amount
            guard amount > 0 else { return try rejected(command, "the amount must be positive") }
            let balance = account!.balance
            // A negative limit cannot be opened; one in an older state counts as none.
            let limit = max(0, account!.overdraftLimit)
            // Below Int64.min is below any overdraft limit: insufficient funds, like any other shortfall.
            let (after, overflow) = balance.subtractingReportingOverflow(amount)
            guard !overflow, after >= -limit else {
                let short: JSONObject = ["amount": .int(amount), "balance": .int(balance), "reason": "insufficient funds"]
                return [Event(type: "WithdrawalRejected", payload: leg(command, short))]
            }
            return [Event(type: "CashWithdrawn", payload: leg(command, ["amount": .int(amount), "balance": .int(after)]))]
        case ("CloseAccount", _):
            guard account!.balance == 0 else { return try rejected(command, "the balance must be 0 to close the account") }
            return [Event(type: "AccountClosed", payload: ["balance": 0])]
        default:
            throw FunctionError("checking does not know the command \(command.type)", retryable: false)
        }
    },
    apply: { state, event in
        var account = try state.map { try $0.decode(Account.self) }
        switch event.type {
        case "AccountOpened":
            let open = try event.payload(as: Open.self)
            account = Account(owner: open.owner, balance: 0, overdraftLimit: open.overdraftLimit ?? 0, status: "OPEN")
        case "CashDeposited", "CashWithdrawn":
            if let balance = event.payload["balance"]?.intValue { account?.balance = balance }
        case "AccountClosed":
            account?.status = "CLOSED"
        default:
            break  // rejections change nothing
        }
        return try account.map { try JSONValue(encoding: $0) }
    }
)

try await checking.run()
