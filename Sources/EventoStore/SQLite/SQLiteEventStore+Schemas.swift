import EventoCore

extension SQLiteEventStore: SchemaStore {
    public func loadRegistry() async throws -> RegistryRecords {
        try await readers.read { c in
            var r = RegistryRecords()
            let s1 = try c.statement("SELECT id, key, schema FROM registry_schemas ORDER BY id")
            while try s1.step() { r.schemas.append(.init(id: Int(s1.int64(0)), key: s1.string(1), text: s1.string(2))) }
            s1.reset()
            let s2 = try c.statement("SELECT subject, version, schema_id FROM registry_versions ORDER BY subject, version")
            while try s2.step() { r.versions.append(.init(subject: s2.string(0), version: Int(s2.int64(1)), schemaId: Int(s2.int64(2)))) }
            s2.reset()
            let s3 = try c.statement("SELECT subject, compatibility FROM registry_config")
            while try s3.step() { r.compatibility[s3.string(0)] = s3.string(1) }
            s3.reset()
            let s4 = try c.statement("SELECT aggregate, version, definition FROM aggregate_schemas ORDER BY aggregate, version")
            while try s4.step() { r.aggregates.append(.init(aggregate: s4.string(0), version: Int(s4.int64(1)), definition: s4.string(2))) }
            s4.reset()
            let s5 = try c.statement("SELECT aggregate, sha256 FROM schema_files")
            while try s5.step() { r.files[s5.string(0)] = s5.string(1) }
            s5.reset()
            return r
        }
    }

    public func saveRegistry(
        schemas: [RegistryRecords.SchemaText], versions: [RegistryRecords.SubjectVersion], aggregate: RegistryRecords.AggregateDefinition?
    ) async throws {
        try await writer.perform { tx in
            for s in schemas {
                let st = try tx.connection.statement("INSERT INTO registry_schemas(id, key, schema) VALUES(?1, ?2, ?3)")
                try st.bind(1, s.id)
                try st.bind(2, s.key)
                try st.bind(3, s.text)
                try st.step()
            }
            for v in versions {
                let st = try tx.connection.statement(
                    "INSERT INTO registry_versions(subject, version, schema_id, created_at) VALUES(?1, ?2, ?3, ?4)")
                try st.bind(1, v.subject)
                try st.bind(2, v.version)
                try st.bind(3, v.schemaId)
                try st.bind(4, tx.now.millisecondsSinceEpoch)
                try st.step()
            }
            if let a = aggregate {
                let st = try tx.connection.statement(
                    "INSERT INTO aggregate_schemas(aggregate, version, definition, created_at) VALUES(?1, ?2, ?3, ?4)")
                try st.bind(1, a.aggregate)
                try st.bind(2, a.version)
                try st.bind(3, a.definition)
                try st.bind(4, tx.now.millisecondsSinceEpoch)
                try st.step()
            }
        }
    }

    public func setSchemaFile(aggregate: String, hash: String) async throws {
        try await writer.perform { tx in
            let st = try tx.connection.statement(
                "INSERT INTO schema_files(aggregate, sha256) VALUES(?1, ?2) ON CONFLICT(aggregate) DO UPDATE SET sha256 = excluded.sha256")
            try st.bind(1, aggregate)
            try st.bind(2, hash)
            try st.step()
        }
    }

    public func setCompatibility(_ level: String?, subject: String) async throws {
        try await writer.perform { tx in
            if let level {
                let st = try tx.connection.statement(
                    "INSERT INTO registry_config(subject, compatibility) VALUES(?1, ?2) ON CONFLICT(subject) DO UPDATE SET compatibility = excluded.compatibility")
                try st.bind(1, subject)
                try st.bind(2, level)
                try st.step()
            } else {
                let st = try tx.connection.statement("DELETE FROM registry_config WHERE subject = ?1")
                try st.bind(1, subject)
                try st.step()
            }
        }
    }
}
