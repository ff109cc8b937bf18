// The benchmark's transfer dispatcher (`evento bench commands` registers it on transfer.TransferRequested):
// a TransferRequested becomes a withdrawal and a deposit at once, so that every function of the bench's load
// is compiled Swift and a transfer costs two account commands.
//
// It is NOT the bank's transfer: both commands are sent together, so a rejected withdrawal still deposits
// (the bench funds every account with 100,000 and withdraws at most 100 at a time: none is rejected). The
// bank's transfer is the saga in ../transfer.py (docs/sagas.md), which deposits only what was withdrawn and
// refunds what it cannot deliver.
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
