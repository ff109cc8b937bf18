import EventoCore
import PostgresNIO

extension PostgresStore: SchemaStore {
    public func loadRegistry() async throws -> RegistryRecords {
        var r = RegistryRecords()
        for row in try await read("SELECT id, key, schema FROM registry_schemas ORDER BY id") {
            let (id, key, text) = try row.decode((Int, String, String).self)
            r.schemas.append(.init(id: id, key: key, text: text))
        }
        for row in try await read("SELECT subject, version, schema_id FROM registry_versions ORDER BY subject, version") {
            let (subject, version, schemaId) = try row.decode((String, Int, Int).self)
            r.versions.append(.init(subject: subject, version: version, schemaId: schemaId))
        }
        for row in try await read("SELECT subject, compatibility FROM registry_config") {
            let (subject, level) = try row.decode((String, String).self)
            r.compatibility[subject] = level
        }
        for row in try await read("SELECT aggregate, version, definition FROM aggregate_schemas ORDER BY aggregate, version") {
            let (aggregate, version, definition) = try row.decode((String, Int, String).self)
            r.aggregates.append(.init(aggregate: aggregate, version: version, definition: definition))
        }
        for row in try await read("SELECT aggregate, sha256 FROM schema_files") {
            let (aggregate, hash) = try row.decode((String, String).self)
            r.files[aggregate] = hash
        }
        return r
    }

    public func saveRegistry(
        schemas: [RegistryRecords.SchemaText], versions: [RegistryRecords.SubjectVersion], aggregate: RegistryRecords.AggregateDefinition?
    ) async throws {
        try await writer.perform { tx in
            for s in schemas {
                try await tx.query("INSERT INTO registry_schemas(id, key, schema) VALUES (\(s.id), \(s.key), \(s.text))")
            }
            for v in versions {
                try await tx.query(
                    """
                    INSERT INTO registry_versions(subject, version, schema_id, created_at)
                    VALUES (\(v.subject), \(v.version), \(v.schemaId), \(tx.now.millisecondsSinceEpoch))
                    """)
            }
            if let a = aggregate {
                try await tx.query(
                    """
                    INSERT INTO aggregate_schemas(aggregate, version, definition, created_at)
                    VALUES (\(a.aggregate), \(a.version), \(a.definition), \(tx.now.millisecondsSinceEpoch))
                    """)
            }
            try await tx.query("SELECT pg_notify(\(self.channels.catalogue), 'schemas')")
        }
    }

    public func setSchemaFile(aggregate: String, hash: String) async throws {
        try await writer.perform { tx in
            try await tx.query(
                "INSERT INTO schema_files(aggregate, sha256) VALUES (\(aggregate), \(hash)) ON CONFLICT (aggregate) DO UPDATE SET sha256 = excluded.sha256")
        }
    }

    public func setCompatibility(_ level: String?, subject: String) async throws {
        try await writer.perform { tx in
            if let level {
                try await tx.query(
                    """
                    INSERT INTO registry_config(subject, compatibility) VALUES (\(subject), \(level))
                    ON CONFLICT (subject) DO UPDATE SET compatibility = excluded.compatibility
                    """)
            } else {
                try await tx.query("DELETE FROM registry_config WHERE subject = \(subject)")
            }
            try await tx.query("SELECT pg_notify(\(self.channels.catalogue), 'schemas')")
        }
    }
}
