import EventoCore
import Logging
import Synchronization

/// The schema registry: every aggregate's schema file by version, one subject per state, event and command
/// record (record name strategy: the subject is the record's full name), global schema ids, compatibility
/// levels. It validates every payload (`SchemaValidator`) and encodes payloads for Kafka in the Confluent
/// wire format.
public final class SchemaRegistry: SchemaValidator, Sendable {
    /// A registry error, with the Confluent Schema Registry error code its REST API reports.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var code: Int
        public var message: String
        public var description: String { message }
        public var httpStatus: Int { code >= 1000 ? code / 100 : code }

        public init(code: Int, message: String) {
            self.code = code
            self.message = message
        }

        public static func subjectNotFound(_ s: String) -> Failure { Failure(code: 40401, message: "Subject '\(s)' not found.") }
        public static func versionNotFound(_ v: String) -> Failure { Failure(code: 40402, message: "Version \(v) not found.") }
        public static func schemaNotFound() -> Failure { Failure(code: 40403, message: "Schema not found") }
        public static func invalidSchema(_ m: String) -> Failure { Failure(code: 42201, message: "Invalid schema: \(m)") }
        public static func invalidVersion(_ v: String) -> Failure {
            Failure(code: 42202, message: "The specified version '\(v)' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"")
        }
        public static func invalidLevel(_ l: String) -> Failure {
            Failure(code: 42203, message: "Invalid compatibility level \(l); expected one of \(CompatibilityLevel.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        public static func incompatible(_ subject: String, _ problems: [String]) -> Failure {
            Failure(code: 409, message: "Schema being registered is incompatible with an earlier schema for subject \"\(subject)\": \(problems.joined(separator: "; "))")
        }
    }

    struct Registered {
        var text: String
        var type: AvroType
        var codec: AvroBinaryCodec?
    }

    struct AggregateEntry {
        var version: Int
        var schema: AggregateSchema
        /// Schema id of the latest version of each record subject, by record name.
        var ids: [String: Int]
    }

    private struct State {
        var schemas: [Int: Registered] = [:]
        var idsByKey: [String: Int] = [:]
        var subjects: [String: [Int]] = [:]
        var compatibility: [String: CompatibilityLevel] = [:]
        var aggregates: [String: AggregateEntry] = [:]
        /// Subjects that belong to an aggregate's schema file (changed only through it).
        var owners: [String: String] = [:]
        var nextId = 1
        /// SHA-256 of each schema file as last loaded from disk.
        var files: [String: String] = [:]
    }

    private let state = Mutex(State())
    /// Serialises changes: each reads the state, writes the store, then commits to the state.
    private let writeLock = AsyncLock()
    let store: any SchemaStore
    public let allowSchemaless: Bool
    let logger: Logger

    public static let defaultCompatibility = CompatibilityLevel.backward

    public init(store: any SchemaStore, allowSchemaless: Bool, logger: Logger) {
        self.store = store
        self.allowSchemaless = allowSchemaless
        self.logger = logger
    }

    // MARK: Loading

    /// Loads what the store holds.
    public func load() async throws {
        let records = try await store.loadRegistry()
        var s = State()
        for r in records.schemas {
            var parser = AvroSchemaParser()
            guard let type = try? parser.parse(JSONParser.parse(r.text)) else {
                logger.error("stored schema \(r.id) no longer parses; skipped")
                continue
            }
            s.schemas[r.id] = Registered(text: r.text, type: type)
            s.idsByKey[r.key] = r.id
            s.nextId = max(s.nextId, r.id + 1)
        }
        for v in records.versions { s.subjects[v.subject, default: []].append(v.schemaId) }
        for (subject, level) in records.compatibility { s.compatibility[subject] = CompatibilityLevel(rawValue: level) }
        s.files = records.files
        for def in records.aggregates {
            guard let json = try? JSONParser.parse(def.definition), let schema = try? AggregateSchema(aggregate: def.aggregate, definition: json) else {
                continue
            }
            var ids: [String: Int] = [:]
            for r in schema.subjectRecords {
                if let latest = s.subjects[r.fullName]?.last { ids[r.name] = latest }
                s.owners[r.fullName] = def.aggregate
            }
            s.aggregates[def.aggregate] = AggregateEntry(version: def.version, schema: schema, ids: ids)
        }
        state.withLock { $0 = s }
    }

    /// Registers the `*.avsc` files of a directory (file name = aggregate). A file unchanged since it was
    /// last loaded is skipped, so a schema changed since through `PUT /schemas` stays as it is.
    public func loadDirectory(_ path: String, files: [(name: String, contents: [UInt8])]) async throws {
        for file in files where file.name.hasSuffix(".avsc") {
            let aggregate = String(file.name.dropLast(5))
            let hash = Identifiers.sha256Hex(file.contents)
            if state.withLock({ $0.files[aggregate] }) == hash { continue }
            let json: JSONValue
            do { json = try JSONParser.parse(file.contents) } catch {
                throw EventoError(.validation, "\(path)/\(file.name) is not valid JSON: \(error)")
            }
            do {
                let result = try await put(aggregate: aggregate, definition: json)
                if result.changed { logger.info("schema loaded", metadata: ["aggregate": "\(aggregate)", "version": "\(result.version)"]) }
                try await store.setSchemaFile(aggregate: aggregate, hash: hash)
                state.withLock { $0.files[aggregate] = hash }
            } catch let e as EventoError {
                throw EventoError(e.code, "\(path)/\(file.name): \(e.message)", field: e.field)
            }
        }
    }

    // MARK: Aggregate schemas

    public struct PutResult: Sendable {
        public var aggregate: String
        public var version: Int
        public var changed: Bool
        public var subjects: [(subject: String, version: Int, id: Int)]
    }

    /// Registers a new version of an aggregate's schema file, after checking every changed subject against
    /// its compatibility level. All of it is registered, or none.
    public func put(aggregate: String, definition: JSONValue) async throws -> PutResult {
        let schema = try AggregateSchema(aggregate: aggregate, definition: definition)
        return try await writeLock.withLock {
            let snapshot = state.withLock { $0 }
            let current = snapshot.aggregates[aggregate]
            var newSchemas: [RegistryRecords.SchemaText] = []
            var newVersions: [RegistryRecords.SubjectVersion] = []
            var nextId = snapshot.nextId
            var idsByKey = snapshot.idsByKey
            var ids: [String: Int] = [:]
            var subjects: [(String, Int, Int)] = []
            var problems: [String] = []
            for record in schema.subjectRecords {
                let subject = record.fullName
                if let owner = snapshot.owners[subject], owner != aggregate {
                    throw EventoError(.conflict, "\(subject) belongs to aggregate \(owner)")
                }
                let standalone = AvroType.named(record).standaloneJSON()
                let text = standalone.jsonText
                let key = Self.key(text)
                let versions = snapshot.subjects[subject] ?? []
                if let latest = versions.last, snapshot.schemas[latest].map({ Self.key($0.text) }) == key {
                    ids[record.name] = latest
                    subjects.append((subject, versions.count, latest))
                    continue
                }
                var reparser = AvroSchemaParser()
                let type = try reparser.parse(standalone)
                let level = snapshot.compatibility[subject] ?? snapshot.compatibility[""] ?? Self.defaultCompatibility
                let previous = versions.compactMap { snapshot.schemas[$0]?.type }
                problems += level.problems(new: type, previous: previous).map { "\(subject) (\(level.rawValue)): \($0)" }
                let id: Int
                if let known = idsByKey[key] {
                    id = known
                } else {
                    id = nextId
                    nextId += 1
                    idsByKey[key] = id
                    newSchemas.append(.init(id: id, key: key, text: text))
                }
                newVersions.append(.init(subject: subject, version: versions.count + 1, schemaId: id))
                ids[record.name] = id
                subjects.append((subject, versions.count + 1, id))
            }
            if !problems.isEmpty {
                throw EventoError(.conflict, "the schema of \(aggregate) is incompatible with the registered one: \(problems.joined(separator: "; "))")
            }
            let sameDefinition = current.map { $0.schema.definition == definition } ?? false
            if newVersions.isEmpty && sameDefinition {
                return PutResult(aggregate: aggregate, version: current!.version, changed: false, subjects: subjects)
            }
            let version = (current?.version ?? 0) + 1
            try await store.saveRegistry(
                schemas: newSchemas, versions: newVersions,
                aggregate: .init(aggregate: aggregate, version: version, definition: definition.jsonText))
            state.withLock { s in
                for n in newSchemas {
                    if let type = try? { var p = AvroSchemaParser(); return try p.parse(JSONParser.parse(n.text)) }() {
                        s.schemas[n.id] = Registered(text: n.text, type: type)
                    }
                    s.idsByKey[n.key] = n.id
                }
                for v in newVersions { s.subjects[v.subject, default: []].append(v.schemaId) }
                for r in schema.subjectRecords { s.owners[r.fullName] = aggregate }
                s.aggregates[aggregate] = AggregateEntry(version: version, schema: schema, ids: ids)
                s.nextId = max(s.nextId, nextId)
            }
            // Such an event is 5 bytes on Kafka (magic byte, schema id, no Avro bytes), which some stock
            // deserializers refuse (docs/kafka.md).
            let registered = Set(newVersions.map(\.subject))
            for r in schema.subjectRecords where r.properties["evento"] == "event" && registered.contains(r.fullName) {
                if case .record(let fields) = r.kind, fields.isEmpty {
                    logger.warning(
                        "event \(r.fullName) has no fields: its Kafka value is 5 bytes, which PyPI confluent-kafka's AvroDeserializer refuses (it wants at least 6); see docs/kafka.md",
                        metadata: ["aggregate": "\(aggregate)"])
                }
            }
            return PutResult(aggregate: aggregate, version: version, changed: true, subjects: subjects)
        }
    }

    static func key(_ text: String) -> String { Identifiers.sha256Hex(text.utf8) }

    /// The aggregates with a schema, and their versions.
    public func aggregateVersions() -> [(aggregate: String, version: Int)] {
        state.withLock { s in s.aggregates.map { ($0.key, $0.value.version) }.sorted { $0.0 < $1.0 } }
    }

    public func aggregateDefinition(_ aggregate: String) -> (version: Int, definition: JSONValue, ids: [String: Int])? {
        state.withLock { s in s.aggregates[aggregate].map { ($0.version, $0.schema.definition, $0.ids) } }
    }

    // MARK: SchemaValidator

    public func validateEvent(aggregate: String, type: String, payload: JSONValue, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?) {
        try validate(aggregate: aggregate, type: type, payload: payload, field: field, role: "event") { $0.events[type] }
    }

    public func validateCommand(aggregate: String, type: String, payload: JSONValue, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?) {
        try validate(aggregate: aggregate, type: type, payload: payload, field: field, role: "command") { $0.commands[type] }
    }

    public func isInternalCommand(aggregate: String, type: String) -> Bool {
        state.withLock { $0.aggregates[aggregate]?.schema.internalCommands.contains(type) ?? false }
    }

    public func validateView(_ view: String, doc: JSONValue, field: String) throws(EventoError) -> RawJSON? {
        guard let (record, entry) = state.withLock({ s -> (AvroNamed, AggregateEntry)? in
            for entry in s.aggregates.values { if let r = entry.schema.views[view] { return (r, entry) } }
            return nil
        }) else { return nil }
        return try normalize(doc, record, entry, field: field).0
    }

    public func uniqueFields(aggregate: String) -> [UniqueField] {
        state.withLock { $0.aggregates[aggregate]?.schema.uniqueFields ?? [] }
    }

    public func validateState(aggregate: String, state payload: JSONValue, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?) {
        guard let entry = state.withLock({ $0.aggregates[aggregate] }) else {
            if allowSchemaless { return (RawJSON(payload), nil) }
            throw noSchema(aggregate, field: field)
        }
        guard let record = entry.schema.state else { return (RawJSON(payload), nil) }
        return try normalize(payload, record, entry, field: field)
    }

    private func validate(
        aggregate: String, type: String, payload: JSONValue, field: String, role: String, find: (AggregateSchema) -> AvroNamed?
    ) throws(EventoError) -> (RawJSON, schemaId: Int?) {
        guard let entry = state.withLock({ $0.aggregates[aggregate] }) else {
            if allowSchemaless { return (RawJSON(payload), nil) }
            throw noSchema(aggregate, field: field)
        }
        guard let record = find(entry.schema) else {
            let prefix = field == "payload" || field.isEmpty ? "" : String(field.dropLast(".payload".count)) + ": "
            let typeField = field == "payload" || field.isEmpty ? "type" : String(field.dropLast("payload".count)) + "type"
            let known = (role == "event" ? entry.schema.events : entry.schema.commands).keys.sorted()
            let other = role == "event" ? entry.schema.commands[type] != nil : entry.schema.events[type] != nil
            throw EventoError(
                .validation,
                "\(prefix)type \"\(type)\" is not \(role == "event" ? "an event" : "a command") of aggregate \(aggregate)"
                    + (other ? " (it is \(role == "event" ? "a command" : "an event"))" : "")
                    + "; its \(role)s are \(known.isEmpty ? "none" : known.joined(separator: ", "))",
                field: typeField)
        }
        return try normalize(payload, record, entry, field: field)
    }

    private func normalize(_ value: JSONValue, _ record: AvroNamed, _ entry: AggregateEntry, field: String) throws(EventoError) -> (RawJSON, schemaId: Int?) {
        let normalized = try AvroValidator.normalize(value, as: .named(record), path: field)
        return (RawJSON(normalized), entry.ids[record.name])
    }

    private func noSchema(_ aggregate: String, field: String) -> EventoError {
        EventoError(
            .validation,
            "aggregate \(aggregate) has no schema: add schemas/\(aggregate).avsc or PUT /schemas/\(aggregate) (or start the server with --allow-schemaless)",
            field: field.isEmpty ? nil : field)
    }

    // MARK: Confluent Schema Registry API

    public func schemaText(id: Int) -> String? { state.withLock { $0.schemas[id]?.text } }

    public func subjects() -> [String] { state.withLock { $0.subjects.keys.sorted() } }

    public func versions(of subject: String) throws(Failure) -> [Int] {
        guard let v = state.withLock({ $0.subjects[subject] }) else { throw .subjectNotFound(subject) }
        return Array(1...v.count)
    }

    /// `version` is a number or "latest".
    public func version(_ version: String, of subject: String) throws(Failure) -> (version: Int, id: Int, schema: String) {
        guard let ids = state.withLock({ $0.subjects[subject] }) else { throw .subjectNotFound(subject) }
        let n: Int
        if version == "latest" || version == "-1" {
            n = ids.count
        } else {
            guard let v = Int(version), v >= 1 else { throw .invalidVersion(version) }
            n = v
        }
        guard n >= 1, n <= ids.count, let text = schemaText(id: ids[n - 1]) else { throw .versionNotFound(version) }
        return (n, ids[n - 1], text)
    }

    private func parseClientSchema(_ text: String) throws(Failure) -> (AvroType, String) {
        let json: JSONValue
        do { json = try JSONParser.parse(text) } catch { throw .invalidSchema("not JSON: \(error)") }
        var parser = AvroSchemaParser()
        let type: AvroType
        do { type = try parser.parse(json) } catch { throw .invalidSchema(error.description) }
        if let problem = AvroResolution.problem(with: type) { throw .invalidSchema(problem) }
        return (type, type.standaloneJSON().jsonText)
    }

    /// The version and id under which `subject` already holds this schema, if it does.
    public func lookup(subject: String, schema text: String) throws(Failure) -> (version: Int, id: Int)? {
        let (_, normalized) = try parseClientSchema(text)
        let key = Self.key(normalized)
        return state.withLock { s in
            guard let id = s.idsByKey[key], let ids = s.subjects[subject], let i = ids.firstIndex(of: id) else { return nil }
            return (i + 1, id)
        }
    }

    /// Registers a schema under a subject (`POST /subjects/{subject}/versions`); the same schema again
    /// returns its id. Subjects of aggregate records change only through their aggregate's schema file.
    public func register(subject: String, schema text: String) async throws -> Int {
        let (type, normalized) = try parseClientSchema(text)
        let key = Self.key(normalized)
        return try await writeLock.withLock {
            let snapshot = state.withLock { $0 }
            let versions = snapshot.subjects[subject] ?? []
            if let id = snapshot.idsByKey[key], versions.contains(id) { return id }
            if let owner = snapshot.owners[subject] {
                throw Failure(code: 409, message: "Subject \"\(subject)\" belongs to aggregate \(owner); change it with PUT /schemas/\(owner)")
            }
            let level = snapshot.compatibility[subject] ?? snapshot.compatibility[""] ?? Self.defaultCompatibility
            let problems = level.problems(new: type, previous: versions.compactMap { snapshot.schemas[$0]?.type })
            if !problems.isEmpty { throw Failure.incompatible(subject, problems) }
            let existing = snapshot.idsByKey[key]
            let id = existing ?? snapshot.nextId
            try await store.saveRegistry(
                schemas: existing == nil ? [.init(id: id, key: key, text: normalized)] : [],
                versions: [.init(subject: subject, version: versions.count + 1, schemaId: id)], aggregate: nil)
            state.withLock { s in
                if existing == nil {
                    s.schemas[id] = Registered(text: normalized, type: type)
                    s.idsByKey[key] = id
                    s.nextId = id + 1
                }
                s.subjects[subject, default: []].append(id)
            }
            return id
        }
    }

    /// Problems with registering this schema under the subject next (empty: compatible).
    public func compatibilityProblems(subject: String, schema text: String, version: String = "latest") throws(Failure) -> [String] {
        let (type, _) = try parseClientSchema(text)
        let snapshot = state.withLock { $0 }
        guard let ids = snapshot.subjects[subject] else { throw .subjectNotFound(subject) }
        let level = snapshot.compatibility[subject] ?? snapshot.compatibility[""] ?? Self.defaultCompatibility
        var previous = ids.compactMap { snapshot.schemas[$0]?.type }
        if version != "latest" {
            guard let n = Int(version), n >= 1, n <= previous.count else { throw .versionNotFound(version) }
            previous = Array(previous.prefix(n))
        }
        return level.problems(new: type, previous: previous)
    }

    /// The level of a subject (nil subject: the global one); nil when the subject has none of its own.
    public func compatibility(subject: String?) -> CompatibilityLevel? {
        state.withLock { s in
            if let subject { return s.compatibility[subject] }
            return s.compatibility[""] ?? Self.defaultCompatibility
        }
    }

    public func setCompatibility(_ text: String, subject: String?) async throws -> CompatibilityLevel {
        guard let level = CompatibilityLevel(rawValue: text.uppercased()) else { throw Failure.invalidLevel(text) }
        try await store.setCompatibility(level.rawValue, subject: subject ?? "")
        state.withLock { $0.compatibility[subject ?? ""] = level }
        return level
    }

    // MARK: Wire format

    /// The Confluent wire format of a payload: 0x00, the schema id (4 bytes, big-endian), Avro binary.
    public func wireFormat(schemaId: Int, payload: RawJSON) throws -> [UInt8] {
        let codec = try codec(id: schemaId)
        let value = try AvroValidator.normalize(try payload.value(), as: codec.type, path: "payload")
        var out: [UInt8] = [0, UInt8(truncatingIfNeeded: schemaId >> 24), UInt8(truncatingIfNeeded: schemaId >> 16),
            UInt8(truncatingIfNeeded: schemaId >> 8), UInt8(truncatingIfNeeded: schemaId)]
        out += try codec.encode(value)
        return out
    }

    /// Decodes the Confluent wire format: the schema id and the natural JSON value.
    public func decodeWireFormat(_ bytes: [UInt8]) throws -> (schemaId: Int, value: JSONValue) {
        guard bytes.count >= 5, bytes[0] == 0 else { throw AvroError(message: "not the Confluent wire format (magic byte 0, 4-byte schema id)") }
        let id = Int(bytes[1]) << 24 | Int(bytes[2]) << 16 | Int(bytes[3]) << 8 | Int(bytes[4])
        return (id, try codec(id: id).decode(Array(bytes[5...])))
    }

    func codec(id: Int) throws -> AvroBinaryCodec {
        if let c = state.withLock({ $0.schemas[id]?.codec }) { return c }
        guard let type = state.withLock({ $0.schemas[id]?.type }) else { throw AvroError(message: "no schema with id \(id)") }
        let codec = try AvroBinaryCodec(type)
        state.withLock { $0.schemas[id]?.codec = codec }
        return codec
    }
}
