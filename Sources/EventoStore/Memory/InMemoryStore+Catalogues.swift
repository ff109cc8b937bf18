import EventoCore

/// Snapshots, cursors, the function catalogue and the schema registry's records.
extension InMemoryStore {
    // MARK: Snapshots

    public func snapshot(of entity: EntityId) async throws -> Snapshot? {
        try read { s in s.snapshots[entity.rawValue] }
    }

    public func save(_ snapshot: Snapshot) async throws {
        try write { s, _ in s.save(snapshot) }
    }

    // MARK: Cursors

    public func cursor(_ name: String) async throws -> Int64? {
        try read { s in s.cursors[name] }
    }

    public func setCursor(_ name: String, to position: Int64) async throws {
        try write { s, _ in s.cursors[name] = position }
    }

    public func removeCursor(_ name: String) async throws {
        try write { s, _ in _ = s.cursors.removeValue(forKey: name) }
    }

    // MARK: Functions

    /// By name, in byte order (as SQLite's `ORDER BY name`).
    public func functionDefinitions() async throws -> [(name: String, definition: RawJSON)] {
        try read { s in
            s.functions.sorted { State.precedes($0.key, $1.key) }.map { (name: $0.key, definition: $0.value) }
        }
    }

    public func saveFunction(name: String, definition: RawJSON) async throws {
        try write { s, _ in s.functions[name] = definition }
    }

    public func deleteFunction(name: String) async throws -> Bool {
        try write { s, _ in s.functions.removeValue(forKey: name) != nil }
    }

    // MARK: Schema registry

    /// In the SQLite store's order: schemas by id, versions by subject and version, aggregate definitions
    /// by aggregate and version.
    public func loadRegistry() async throws -> RegistryRecords {
        try read { s in
            var r = s.registry
            r.schemas.sort { $0.id < $1.id }
            r.versions.sort { a, b in a.subject != b.subject ? State.precedes(a.subject, b.subject) : a.version < b.version }
            r.aggregates.sort { a, b in a.aggregate != b.aggregate ? State.precedes(a.aggregate, b.aggregate) : a.version < b.version }
            return r
        }
    }

    /// - Throws: `EventoError` (`.conflict`) when a schema id or key, a subject version or an aggregate
    ///   version is taken (where SQLite throws its unique-constraint error); nothing is saved then.
    public func saveRegistry(
        schemas: [RegistryRecords.SchemaText], versions: [RegistryRecords.SubjectVersion], aggregate: RegistryRecords.AggregateDefinition?
    ) async throws {
        try write { s, _ in
            var ids = Set(s.registry.schemas.map(\.id))
            var keys = Set(s.registry.schemas.map(\.key))
            for t in schemas {
                guard ids.insert(t.id).inserted else { throw EventoError(.conflict, "schema id \(t.id) is taken") }
                guard keys.insert(t.key).inserted else { throw EventoError(.conflict, "a schema with key \(t.key) is stored") }
            }
            var subjectVersions = Set(s.registry.versions.map { [$0.subject, String($0.version)] })
            for v in versions where !subjectVersions.insert([v.subject, String(v.version)]).inserted {
                throw EventoError(.conflict, "subject \(v.subject) has a version \(v.version)")
            }
            if let a = aggregate, s.registry.aggregates.contains(where: { $0.aggregate == a.aggregate && $0.version == a.version }) {
                throw EventoError(.conflict, "aggregate \(a.aggregate) has a schema version \(a.version)")
            }
            s.registry.schemas.append(contentsOf: schemas)
            s.registry.versions.append(contentsOf: versions)
            if let aggregate { s.registry.aggregates.append(aggregate) }
        }
    }

    public func setCompatibility(_ level: String?, subject: String) async throws {
        try write { s, _ in s.registry.compatibility[subject] = level }
    }

    public func setSchemaFile(aggregate: String, hash: String) async throws {
        try write { s, _ in s.registry.files[aggregate] = hash }
    }
}

extension InMemoryStore.State {
    /// Text order as SQLite's default (binary) collation has it: by UTF-8 bytes.
    static func precedes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    /// Saves a snapshot unless one at its version or later is stored.
    mutating func save(_ snapshot: Snapshot) {
        if let stored = snapshots[snapshot.entity.rawValue], stored.version >= snapshot.version { return }
        snapshots[snapshot.entity.rawValue] = snapshot
    }
}
