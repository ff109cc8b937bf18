@_exported import EventoCore
import Foundation
import Hummingbird
import NIOCore

/// A command as a handler receives it.
public struct Command: Sendable {
    public var id: String
    public var entity: String
    public var type: String
    public var payload: JSONValue
    public var correlationId: String?
    /// 1 on the first attempt, 2 on the first retry, …
    public var attempt: Int

    /// The payload decoded into your own type.
    public func payload<T: Decodable>(as type: T.Type) throws -> T { try payload.decode(T.self) }
}

/// An aggregate as a handler or aggregator receives it.
public struct Aggregate: Sendable {
    public var entity: String
    public var version: Int64
    /// nil before the first event.
    public var state: JSONValue?

    public func state<T: Decodable>(as type: T.Type) throws -> T? { try state.map { try $0.decode(T.self) } }
}

/// An event: what a handler returns (type and payload) and what aggregators and dispatchers receive
/// (with the stored fields filled in).
public struct Event: Sendable {
    public var type: String
    public var payload: JSONValue
    public var id: String?
    public var entity: String?
    public var sequence: Int64?
    public var correlationId: String?

    public init(type: String, payload: JSONValue) {
        self.type = type
        self.payload = payload
    }

    public init(_ type: String, _ payload: some Encodable) throws {
        self.type = type
        self.payload = try JSONValue(encoding: payload)
    }

    public func payload<T: Decodable>(as type: T.Type) throws -> T { try payload.decode(T.self) }
}

/// A command a dispatcher asks for.
public struct CommandRequest: Sendable {
    public var entity: String
    public var type: String
    public var payload: JSONValue

    public init(entity: String, type: String, payload: JSONValue) {
        self.entity = entity
        self.type = type
        self.payload = payload
    }

    public init(entity: String, _ type: String, _ payload: some Encodable) throws {
        self.init(entity: entity, type: type, payload: try JSONValue(encoding: payload))
    }
}

/// A failed call. `retryable: false` sends the command straight to the dead letters.
public struct FunctionError: Error, Sendable {
    public var message: String
    public var retryable: Bool
    public init(_ message: String, retryable: Bool = true) {
        self.message = message
        self.retryable = retryable
    }
}

/// A function: give the closures for the roles it plays, then `run()`.
///
/// It accepts the batch form (`{"kind":"batch","requests":[…]}`), so it can be registered with "maxBatch".
/// `run()` speaks the function protocol on stdin/stdout (the `process` transport, one JSON object per
/// line, each reply echoing its request's `callId` first) unless started with `--http PORT` (or
/// `EVENTO_HTTP_PORT`), then it serves HTTP: `POST /` takes the same JSON, `GET /healthz` answers 200.
/// As a worker, whatever the function prints goes to stderr (the log), never into the protocol stream.
public struct EventoFunction: Sendable {
    public typealias Handle = @Sendable (Command, Aggregate) async throws -> [Event]
    public typealias Fold = @Sendable (JSONValue?, [Event], Aggregate) async throws -> JSONValue?
    public typealias Dispatch = @Sendable (Event) async throws -> [CommandRequest]

    let handle: Handle?
    let aggregate: Fold?
    let dispatch: Dispatch?

    public init(handle: Handle? = nil, aggregate: Fold? = nil, dispatch: Dispatch? = nil) {
        self.handle = handle
        self.aggregate = aggregate
        self.dispatch = dispatch
    }

    /// Folds one event at a time: `apply(state, event) -> state`.
    public init(handle: Handle? = nil, apply: @escaping @Sendable (JSONValue?, Event) throws -> JSONValue?, dispatch: Dispatch? = nil) {
        self.init(
            handle: handle,
            aggregate: { state, events, _ in try events.reduce(state) { try apply($0, $1) } },
            dispatch: dispatch)
    }

    public func run(arguments: [String] = CommandLine.arguments) async throws {
        var port = ProcessInfo.processInfo.environment["EVENTO_HTTP_PORT"].flatMap(Int.init)
        var host = ProcessInfo.processInfo.environment["EVENTO_HTTP_HOST"] ?? "127.0.0.1"
        if let i = arguments.firstIndex(of: "--http"), i + 1 < arguments.count { port = Int(arguments[i + 1]) }
        if let i = arguments.firstIndex(of: "--host"), i + 1 < arguments.count { host = arguments[i + 1] }
        if let port { try await serveHTTP(host: host, port: port) } else { await serveStdio() }
    }

    /// One request line to one reply line. A worker's request carries a `callId` that the reply echoes as
    /// its first member (Evento checks it by looking at the start of the line).
    public func reply(to request: [UInt8]) async -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        do {
            let value = try JSONParser.parse(request)
            var reply: JSONValue
            if value["kind"]?.stringValue == "batch" {
                // The batch form: one reply per request, in order; a failure stays with its request.
                var replies: [JSONValue] = []
                for r in value["requests"]?.arrayValue ?? [] { replies.append(await replyValue(r)) }
                reply = ["replies": .array(replies)]
            } else {
                reply = await replyValue(value)
            }
            if let callId = value["callId"], case .object(let members) = reply {
                reply = .object(JSONObject([JSONObject.Member(key: "callId", value: callId)] + members.members))
            }
            w.value(reply)
        } catch {
            w.value(["error": ["message": .string("request is not JSON: \(error)"), "retryable": false]])
        }
        return w.bytes
    }

    func replyValue(_ request: JSONValue) async -> JSONValue {
        do {
            return try await call(request)
        } catch let e as FunctionError {
            return ["error": ["message": .string(e.message), "retryable": .bool(e.retryable)]]
        } catch {
            return ["error": ["message": .string("\(error)"), "retryable": true]]
        }
    }

    func call(_ request: JSONValue) async throws -> JSONValue {
        switch request["kind"]?.stringValue {
        case "handle":
            guard let handle else { throw FunctionError("this function does not handle commands", retryable: false) }
            let c = request["command"] ?? .null
            let command = Command(
                id: c["id"]?.stringValue ?? "", entity: c["entity"]?.stringValue ?? "", type: c["type"]?.stringValue ?? "",
                payload: c["payload"] ?? .null, correlationId: c["correlationId"]?.stringValue,
                attempt: Int(c["attempt"]?.intValue ?? 1))
            let agg = Self.aggregate(request["aggregate"])
            let events = try await handle(command, agg)
            var reply: JSONObject = ["events": .array(events.map { ["type": .string($0.type), "payload": $0.payload] })]
            if request["fold"]?.boolValue == true, let aggregate {
                // Asked to fold too (this function is also the aggregate's aggregator): the state after the
                // events, saving Evento a second call.
                let stored = events.enumerated().map { i, e in
                    var s = e
                    s.entity = agg.entity
                    s.sequence = agg.version + Int64(i) + 1
                    s.correlationId = command.correlationId
                    return s
                }
                reply["state"] = try await aggregate(agg.state, stored, agg) ?? .null
            }
            return .object(reply)
        case "aggregate":
            guard let aggregate else { throw FunctionError("this function does not aggregate", retryable: false) }
            let agg = Self.aggregate(request["aggregate"])
            let events = (request["events"]?.arrayValue ?? []).map(Self.event)
            return ["state": try await aggregate(agg.state, events, agg) ?? .null]
        case "dispatch":
            guard let dispatch else { throw FunctionError("this function does not dispatch events", retryable: false) }
            let commands = try await dispatch(Self.event(request["event"] ?? .null))
            return ["commands": .array(commands.map { ["entity": .string($0.entity), "type": .string($0.type), "payload": $0.payload] })]
        default:
            throw FunctionError("unknown request kind \(request["kind"]?.jsonText ?? "null")", retryable: false)
        }
    }

    static func aggregate(_ v: JSONValue?) -> Aggregate {
        let state = v?["state"]
        return Aggregate(
            entity: v?["entity"]?.stringValue ?? "", version: v?["version"]?.intValue ?? 0, state: state?.isNull == false ? state : nil)
    }

    static func event(_ v: JSONValue) -> Event {
        var e = Event(type: v["type"]?.stringValue ?? "", payload: v["payload"] ?? .null)
        e.id = v["id"]?.stringValue
        e.entity = v["entity"]?.stringValue
        e.sequence = v["sequence"]?.intValue
        e.correlationId = v["correlationId"]?.stringValue
        return e
    }

    func serveStdio() async {
        // The protocol keeps the real stdout; fd 1 becomes stderr, so a print() in the function lands in
        // the log instead of between two replies (a stray line there breaks the protocol).
        fflush(nil)
        let protocolFD = dup(STDOUT_FILENO)
        guard protocolFD >= 0 else {
            FileHandle.standardError.write(Data("cannot keep stdout for the protocol: \(String(cString: strerror(errno)))\n".utf8))
            exit(1)
        }
        dup2(STDERR_FILENO, STDOUT_FILENO)
        let out = FileHandle(fileDescriptor: protocolFD)
        while let line = readLine(strippingNewline: true) {
            if line.isEmpty { continue }
            var reply = await reply(to: Array(line.utf8))
            reply.append(UInt8(ascii: "\n"))
            out.write(Data(reply))
        }
    }

    func serveHTTP(host: String, port: Int) async throws {
        let router = Router()
        router.get("/healthz") { _, _ in Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#))) }
        router.post("/") { request, _ in
            let body = try await request.body.collect(upTo: 64 * 1024 * 1024)
            let reply = await self.reply(to: Array(body.readableBytesView))
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: reply)))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "evento-function"),
            onServerRunning: { channel in
                FileHandle.standardError.write(Data("function listening on http://\(host):\(channel.localAddress?.port ?? port)\n".utf8))
            })
        try await app.runService()
    }
}

extension JSONValue {
    /// Encodes any `Encodable` into a JSON value.
    public init(encoding value: some Encodable) throws {
        let data = try JSONEncoder().encode(value)
        self = try JSONParser.parse(Array(data))
    }

    /// Decodes this value into a `Decodable`.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(jsonText.utf8))
    }
}
