/// A stored event: what the store returns, the API serves and Kafka carries.
public struct EventEnvelope: Sendable, Hashable {
    /// Unique id (client-given or a generated UUIDv7).
    public var id: String
    public var entity: EntityId
    /// The Avro record name of the event in the aggregate's namespace.
    public var type: String
    /// 1, 2, 3… within the entity, gapless.
    public var sequence: Int64
    /// Global commit order over the whole store, gapless.
    public var position: Int64
    public var time: Timestamp
    public var payload: RawJSON
    /// The command or event that caused this event, or the external request id; nil for an external root.
    public var causationId: String?
    public var causationKind: CausationKind
    /// The id of the root of the cause chain.
    public var correlationId: String
    /// W3C trace context.
    public var traceparent: String?
    /// The registry id of the schema the payload was validated against, when schemas are in use.
    public var schemaId: Int?

    public init(
        id: String, entity: EntityId, type: String, sequence: Int64, position: Int64, time: Timestamp,
        payload: RawJSON, causationId: String?, causationKind: CausationKind, correlationId: String,
        traceparent: String?, schemaId: Int?
    ) {
        self.id = id
        self.entity = entity
        self.type = type
        self.sequence = sequence
        self.position = position
        self.time = time
        self.payload = payload
        self.causationId = causationId
        self.causationKind = causationKind
        self.correlationId = correlationId
        self.traceparent = traceparent
        self.schemaId = schemaId
    }
}

extension EventEnvelope {
    /// Writes the envelope's members (the JSON form of the API).
    public func writeMembers(to o: inout ObjectWriter) {
        o.field("id", id)
        o.field("entity", entity.rawValue)
        o.field("type", type)
        o.field("sequence", sequence)
        o.field("position", position)
        o.field("time", time.description)
        o.field("payload", json: payload)
        o.field("causationId", causationId)
        o.field("causationKind", causationKind.rawValue)
        o.field("correlationId", correlationId)
        o.field("traceparent", traceparent)
        if let schemaId { o.field("schemaId", schemaId) }
    }

    public func write(to w: inout JSONWriter) {
        w.object { writeMembers(to: &$0) }
    }

    public var json: String {
        var w = JSONWriter()
        write(to: &w)
        return w.string
    }
}

/// An event to append.
public struct NewEvent: Sendable, Hashable {
    public var id: String
    public var entity: EntityId
    public var type: String
    public var payload: RawJSON
    public var causationId: String?
    public var causationKind: CausationKind
    public var correlationId: String
    public var traceparent: String?
    /// Checked against the stream's version just before this event is appended.
    public var expectedVersion: ExpectedVersion
    public var schemaId: Int?
    /// When it happened; the commit time when nil.
    public var time: Timestamp?

    public init(
        id: String, entity: EntityId, type: String, payload: RawJSON, causationId: String? = nil,
        causationKind: CausationKind = .external, correlationId: String? = nil, traceparent: String? = nil,
        expectedVersion: ExpectedVersion = .any, schemaId: Int? = nil, time: Timestamp? = nil
    ) {
        self.time = time
        self.id = id
        self.entity = entity
        self.type = type
        self.payload = payload
        self.causationId = causationId
        self.causationKind = causationKind
        self.correlationId = correlationId ?? id
        self.traceparent = traceparent
        self.expectedVersion = expectedVersion
        self.schemaId = schemaId
    }
}

extension NewEvent {
    /// The envelope this event gets once stored at `sequence` and `position` (committed at `fallbackTime`
    /// when it carries no time of its own).
    public func envelope(sequence: Int64, position: Int64, fallbackTime: Timestamp = .now()) -> EventEnvelope {
        EventEnvelope(
            id: id, entity: entity, type: type, sequence: sequence, position: position, time: time ?? fallbackTime, payload: payload,
            causationId: causationId, causationKind: causationKind, correlationId: correlationId, traceparent: traceparent,
            schemaId: schemaId)
    }
}
