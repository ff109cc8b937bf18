// The transfer dispatcher in Swift (the same as transfer.py): a TransferRequested becomes a withdrawal and
// a deposit. The benchmark uses it so that every function of the bank workload is compiled Swift.
import EventoRuntime

let transfer = EventoFunction(dispatch: { event in
    guard event.type == "TransferRequested",
        let from = event.payload["from"]?.stringValue, let to = event.payload["to"]?.stringValue,
        let amount = event.payload["amount"]?.intValue
    else { return [] }
    return [
        CommandRequest(entity: from, type: "WithdrawCash", payload: ["amount": .int(amount)]),
        CommandRequest(entity: to, type: "DepositCash", payload: ["amount": .int(amount)]),
    ]
})

try await transfer.run()
