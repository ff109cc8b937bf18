import EventoCore
import Synchronization

/// Functions as Swift closures answering the JSON function protocol in process: what the pipeline sees of
/// a handler, an aggregator or a dispatcher, without a transport. Every call is recorded.
final class FakeFunctions: FunctionDirectory {
    /// A function's body: the request, parsed → the reply (`{"error": …}` included), as the protocol has them.
    typealias Body = @Sendable (JSONValue) async throws -> JSONValue

    private struct Registered {
        var definition: FunctionDefinition
        var body: Body
    }

    private struct State {
        var functions: [String: Registered] = [:]
        var calls: [(function: String, request: JSONValue)] = []
    }

    private let state = Mutex(State())

    /// Registers (or replaces) a function.
    func register(_ definition: FunctionDefinition, _ body: @escaping Body) {
        state.withLock { $0.functions[definition.name] = Registered(definition: definition, body: body) }
    }

    /// The requests `function` received, in call order.
    func calls(to function: String) -> [JSONValue] {
        state.withLock { s in s.calls.filter { $0.function == function }.map(\.request) }
    }

    private func first(where matches: (FunctionDefinition) -> Bool) -> FunctionDefinition? {
        state.withLock { s in s.functions.values.map(\.definition).filter(matches).min { $0.name < $1.name } }
    }

    func handler(for aggregate: String) -> FunctionDefinition? { first { $0.kind == .handler && $0.aggregate == aggregate } }

    func aggregator(for aggregate: String) -> FunctionDefinition? { first { $0.kind == .aggregator && $0.aggregate == aggregate } }

    func dispatchers() -> [FunctionDefinition] {
        state.withLock { s in s.functions.values.map(\.definition).filter { $0.kind == .dispatcher }.sorted { $0.name < $1.name } }
    }

    func projectors() -> [FunctionDefinition] {
        state.withLock { s in s.functions.values.map(\.definition).filter { $0.kind == .projector }.sorted { $0.name < $1.name } }
    }

    func function(named name: String) -> FunctionDefinition? { state.withLock { $0.functions[name]?.definition } }

    func invoke(_ function: FunctionDefinition, request: [UInt8]) async throws -> [UInt8] {
        let parsed = try JSONParser.parse(request)
        let body = state.withLock { s -> Body? in
            s.calls.append((function.name, parsed))
            return s.functions[function.name]?.body
        }
        guard let body else { throw FunctionCallError(function: function.name, message: "not registered", retryable: true) }
        return Array(try await body(parsed).jsonText.utf8)
    }
}

extension FunctionDefinition {
    /// A function reached through a fake transport. Functions with the same `program` count as one
    /// program (a handler and an aggregator of one program fold in the handler's round trip).
    static func fake(
        _ name: String, _ kind: FunctionKind, aggregate: String? = nil, events: [String] = [], program: String? = nil, maxAttempts: Int = 3
    ) -> FunctionDefinition {
        FunctionDefinition(
            name: name, kind: kind, aggregate: aggregate, events: events, transport: .http(url: "http://fake.test/\(program ?? name)"),
            timeoutMs: 1000, maxAttempts: maxAttempts)
    }
}

/// The test aggregate: `counter:ID` takes `Add {"n": k}` and records `Added {"n": k}`; its state is
/// `{"total": T}`, the sum of what was added.
enum Counter {
    /// The handler's reply: one `Added` event; with `folds`, also the state after it when asked to fold.
    static func handle(_ request: JSONValue, folds: Bool = false) -> JSONValue {
        let n = request["command"]?["payload"]?["n"]?.intValue ?? 1
        var reply: JSONObject = ["events": [["type": "Added", "payload": ["n": .int(n)]]]]
        if folds, request["fold"] == true {
            reply["state"] = ["total": .int(total(request) + n)]
        }
        return .object(reply)
    }

    /// The aggregator's reply: the total plus the events' amounts.
    static func fold(_ request: JSONValue) -> JSONValue {
        let added = request["events"]?.arrayValue?.reduce(0) { $0 + ($1["payload"]?["n"]?.intValue ?? 0) } ?? 0
        return ["state": ["total": .int(total(request) + added)]]
    }

    /// The total of the aggregate a request carries.
    static func total(_ request: JSONValue) -> Int64 { request["aggregate"]?["state"]?["total"]?.intValue ?? 0 }

    /// An error reply.
    static func error(_ message: String, retryable: Bool) -> JSONValue {
        ["error": ["message": .string(message), "retryable": .bool(retryable)]]
    }
}
