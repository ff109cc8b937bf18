/// The function protocol: the JSON Evento sends to functions and the JSON it accepts back.
///
/// ```
/// handle:    {"kind":"handle","command":{…},"aggregate":{"entity":…,"version":N,"state":{…}|null}}
///            → {"events":[{"type":…,"payload":{…}}]}
///            with "fold": true (sent when the aggregate's aggregator is the same program), the reply may
///            also carry the state after the events, saving the aggregator's round trip:
///            → {"events":[…],"state":{…}|null}
/// dispatch:  {"kind":"dispatch","event":{…}} → {"commands":[{"entity":…,"type":…,"payload":{…}}]}
/// aggregate: {"kind":"aggregate","aggregate":{…,"state":…},"events":[…]} → {"state":{…}}
/// any:       → {"error":{"message":…,"retryable":true|false}}
/// ```
public enum FunctionProtocol {
    /// The aggregate as a handler or aggregator sees it.
    public struct Aggregate: Sendable, Hashable {
        public var entity: EntityId
        public var version: Int64
        /// `nil` before the first event (or when the aggregate has no aggregator).
        public var state: RawJSON?

        public init(entity: EntityId, version: Int64, state: RawJSON?) {
            self.entity = entity
            self.version = version
            self.state = state
        }

        func write(to o: inout ObjectWriter) {
            o.field("entity", entity.rawValue)
            o.field("version", version)
            o.field("state", json: state ?? .null)
        }
    }

    /// An event a handler returned (not yet stored).
    public struct ReturnedEvent: Sendable, Hashable {
        public var type: String
        /// As parsed from the reply; printed once, by validation.
        public var payload: JSONValue
    }

    /// A command a dispatcher returned.
    public struct ReturnedCommand: Sendable, Hashable {
        public var entity: EntityId
        public var type: String
        /// As parsed from the reply; printed once, by validation.
        public var payload: JSONValue
        /// Its durable timer (`notBefore` / `delayMs`), nil to run at once.
        public var notBefore: Timestamp? = nil
    }

    /// What a handler answered: its events, and the state after them when it was asked to fold.
    public struct Handled: Sendable {
        public var events: [ReturnedEvent]
        /// nil when the reply has no "state" (not asked to fold, or the function does not fold); `.null`
        /// for a null state.
        public var state: JSONValue?
    }

    /// `traceparent`: the call's span when traced (the function's own spans go under it), else the command's.
    public static func handleRequest(command: CommandRecord, attempt: Int, aggregate: Aggregate, fold: Bool = false, traceparent: String? = nil) -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        w.object { o in
            o.field("kind", "handle")
            if fold { o.field("fold", true) }
            o.object("command") { c in
                c.field("id", command.id)
                c.field("entity", command.entity.rawValue)
                c.field("type", command.type)
                c.field("payload", json: command.payload)
                c.field("causationId", command.causationId)
                c.field("causationKind", command.causationKind.rawValue)
                c.field("correlationId", command.correlationId)
                c.field("traceparent", traceparent ?? command.traceparent)
                c.field("attempt", attempt)
            }
            o.object("aggregate") { aggregate.write(to: &$0) }
        }
        return w.bytes
    }

    public static func aggregateRequest(aggregate: Aggregate, events: [EventEnvelope]) -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        w.object { o in
            o.field("kind", "aggregate")
            o.object("aggregate") { aggregate.write(to: &$0) }
            o.array("events", events) { w, e in e.write(to: &w) }
        }
        return w.bytes
    }

    public static func dispatchRequest(event: EventEnvelope) -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        w.object { o in
            o.field("kind", "dispatch")
            o.object("event") { event.writeMembers(to: &$0) }
        }
        return w.bytes
    }

    // MARK: Replies

    /// Parses a reply, turning `{"error": …}` and malformed replies into `FunctionCallError`.
    static func reply(_ bytes: [UInt8], function: String) throws(FunctionCallError) -> FieldReader {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            let preview = String(decoding: bytes.prefix(200), as: UTF8.self)
            throw FunctionCallError(function: function, message: "reply is not JSON (\(error)): \(preview)", retryable: true)
        }
        guard case .object = value else {
            throw FunctionCallError(function: function, message: "reply is not a JSON object", retryable: true)
        }
        if let failure = failure(value, function: function) { throw failure }
        do { return try FieldReader(value) } catch { throw invalid(function, error) }
    }

    /// The function's own error, when the reply is `{"error": {"message": …, "retryable": …}}` (or
    /// `{"error": "text"}`): the one place that reads that shape, for every transport and the batch form.
    public static func failure(_ reply: JSONValue, function: String, prefix: String = "") -> FunctionCallError? {
        guard let error = reply["error"] else { return nil }
        let message = error["message"]?.stringValue ?? error.stringValue ?? error.jsonText
        return FunctionCallError(function: function, message: prefix + message, retryable: error["retryable"]?.boolValue ?? true)
    }

    /// A function's HTTP answer that is not a 2xx, as a call error: a 4xx is not retried (keeping the
    /// function's own message when it gave one), anything else is.
    public static func httpFailure(status: Int, body: [UInt8], function: String) -> FunctionCallError {
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        if (400..<500).contains(status) {
            let own = (try? JSONParser.parse(body)).flatMap { failure($0, function: function) }?.message
            return FunctionCallError(function: function, message: "HTTP \(status): \(own ?? text)", retryable: false)
        }
        return FunctionCallError(function: function, message: "HTTP \(status): \(text)", retryable: true)
    }

    static func invalid(_ function: String, _ error: EventoError) -> FunctionCallError {
        FunctionCallError(function: function, message: "invalid reply: \(error.message)", retryable: true)
    }

    public static func parseEvents(_ bytes: [UInt8], function: String) throws(FunctionCallError) -> [ReturnedEvent] {
        try parseHandled(bytes, function: function).events
    }

    public static func parseHandled(_ bytes: [UInt8], function: String) throws(FunctionCallError) -> Handled {
        var r = try reply(bytes, function: function)
        do throws(EventoError) {
            guard let items = try r.array("events") else { throw EventoError.invalid("events", "is required") }
            // Read from the object, not through `value`, which takes null for absent: `"state": null` is a
            // fold's answer (the state after the events is null), not a reply without a state.
            _ = r.value("state")
            let state = r.object["state"]
            switch state {
            case nil, .null?, .object?: break
            case let v?: throw EventoError.invalid("state", "expected object or null, got \(v.typeName)")
            }
            try r.rejectUnknownFields()
            var out: [ReturnedEvent] = []
            for (i, item) in items.enumerated() {
                var e = try FieldReader(item, path: "events[\(i)]")
                let type = try e.requireString("type")
                guard Names.isAvroName(type) else { throw EventoError.invalid(e.path("type"), "\"\(type)\" is not a type name") }
                let payload = try e.require("payload")
                guard case .object = payload else {
                    throw EventoError.invalid(e.path("payload"), "expected object, got \(payload.typeName)")
                }
                try e.rejectUnknownFields()
                out.append(ReturnedEvent(type: type, payload: payload))
            }
            return Handled(events: out, state: state)
        } catch { throw invalid(function, error) }
    }

    public static func parseState(_ bytes: [UInt8], function: String) throws(FunctionCallError) -> JSONValue? {
        var r = try reply(bytes, function: function)
        do throws(EventoError) {
            let state = r.value("state")
            guard r.object.keys.contains("state") else { throw EventoError.invalid("state", "is required") }
            try r.rejectUnknownFields()
            switch state {
            case nil: return nil
            case .object?: return state!
            case let v?: throw EventoError.invalid("state", "expected object or null, got \(v.typeName)")
            }
        } catch { throw invalid(function, error) }
    }

    public static func parseCommands(_ bytes: [UInt8], function: String) throws(FunctionCallError) -> [ReturnedCommand] {
        var r = try reply(bytes, function: function)
        do throws(EventoError) {
            guard let items = try r.array("commands") else { throw EventoError.invalid("commands", "is required") }
            try r.rejectUnknownFields()
            var out: [ReturnedCommand] = []
            for (i, item) in items.enumerated() {
                var c = try FieldReader(item, path: "commands[\(i)]")
                let entityText = try c.requireString("entity")
                let entity: EntityId
                do { entity = try EntityId(parsing: entityText) } catch {
                    throw EventoError.invalid(c.path("entity"), error.description)
                }
                let type = try c.requireString("type")
                guard Names.isAvroName(type) else { throw EventoError.invalid(c.path("type"), "\"\(type)\" is not a type name") }
                let payload = try c.require("payload")
                guard case .object = payload else {
                    throw EventoError.invalid(c.path("payload"), "expected object, got \(payload.typeName)")
                }
                let notBefore = try SubmissionParser.schedule(&c)
                try c.rejectUnknownFields()
                out.append(ReturnedCommand(entity: entity, type: type, payload: payload, notBefore: notBefore))
            }
            return out
        } catch { throw invalid(function, error) }
    }
}
