/// What the schema registry keeps: schema texts by id, the versions of each subject, compatibility
/// settings, and each aggregate's schema file by version.
public struct RegistryRecords: Sendable {
    public struct SchemaText: Sendable, Hashable {
        public var id: Int
        public var key: String
        public var text: String
        public init(id: Int, key: String, text: String) {
            self.id = id
            self.key = key
            self.text = text
        }
    }
    public struct SubjectVersion: Sendable, Hashable {
        public var subject: String
        public var version: Int
        public var schemaId: Int
        public init(subject: String, version: Int, schemaId: Int) {
            self.subject = subject
            self.version = version
            self.schemaId = schemaId
        }
    }
    public struct AggregateDefinition: Sendable, Hashable {
        public var aggregate: String
        public var version: Int
        public var definition: String
        public init(aggregate: String, version: Int, definition: String) {
            self.aggregate = aggregate
            self.version = version
            self.definition = definition
        }
    }

    public var schemas: [SchemaText] = []
    public var versions: [SubjectVersion] = []
    /// Compatibility levels by subject; the key "" is the global level.
    public var compatibility: [String: String] = [:]
    public var aggregates: [AggregateDefinition] = []
    /// The SHA-256 of each aggregate's schema file as last loaded from disk.
    public var files: [String: String] = [:]

    public init() {}
}

/// Persistence for the schema registry. Writes are atomic: a change that registers several subjects
/// registers all of them or none.
public protocol SchemaStore: Sendable {
    func loadRegistry() async throws -> RegistryRecords
    /// Adds new schema texts, subject versions and (optionally) an aggregate definition in one transaction.
    func saveRegistry(schemas: [RegistryRecords.SchemaText], versions: [RegistryRecords.SubjectVersion], aggregate: RegistryRecords.AggregateDefinition?) async throws
    /// Sets (or, with nil, clears) a compatibility level; subject "" is the global level.
    func setCompatibility(_ level: String?, subject: String) async throws
    /// Remembers the hash of an aggregate's schema file as loaded from disk.
    func setSchemaFile(aggregate: String, hash: String) async throws
}
