/// The SQLite schema, applied in order by `PRAGMA user_version`.
///
/// The outbox is the event log itself: events are immutable and ordered by `position`, so a relay needs
/// only a cursor (`relay_cursors`) that it advances as deliveries are confirmed. Writing an event therefore
/// writes its outbox entry in the same transaction for free, with no second row per event.
enum Schema {
    static let migrations: [String] = [
        """
        CREATE TABLE events(
            position INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            entity TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            type TEXT NOT NULL,
            time INTEGER NOT NULL,
            payload TEXT NOT NULL,
            causation_id TEXT,
            causation_kind TEXT NOT NULL,
            correlation_id TEXT NOT NULL,
            traceparent TEXT,
            schema_id INTEGER,
            UNIQUE(entity, sequence)
        );
        CREATE INDEX events_causation ON events(causation_id) WHERE causation_id IS NOT NULL;
        CREATE TABLE commands(
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            entity TEXT NOT NULL,
            type TEXT NOT NULL,
            payload TEXT NOT NULL,
            causation_id TEXT,
            causation_kind TEXT NOT NULL,
            correlation_id TEXT NOT NULL,
            traceparent TEXT,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            result_event_ids TEXT NOT NULL DEFAULT '[]',
            next_attempt_at INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX commands_causation ON commands(causation_id) WHERE causation_id IS NOT NULL;
        CREATE INDEX commands_pending ON commands(next_attempt_at) WHERE status = 'pending';
        CREATE INDEX commands_dead ON commands(updated_at) WHERE status = 'dead';
        CREATE TABLE snapshots(
            entity TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            state TEXT NOT NULL,
            schema_id INTEGER,
            updated_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE relay_cursors(
            name TEXT PRIMARY KEY,
            position INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE functions(
            name TEXT PRIMARY KEY,
            definition TEXT NOT NULL,
            created_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
        """
        CREATE TABLE dead_dispatches(
            id TEXT PRIMARY KEY,
            dispatcher TEXT NOT NULL,
            event_id TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            last_error TEXT NOT NULL,
            created_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
        """
        CREATE TABLE registry_schemas(
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            schema TEXT NOT NULL
        );
        CREATE TABLE registry_versions(
            subject TEXT NOT NULL,
            version INTEGER NOT NULL,
            schema_id INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY(subject, version)
        ) WITHOUT ROWID;
        CREATE TABLE registry_config(
            subject TEXT PRIMARY KEY,
            compatibility TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE aggregate_schemas(
            aggregate TEXT NOT NULL,
            version INTEGER NOT NULL,
            definition TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY(aggregate, version)
        ) WITHOUT ROWID;
        CREATE TABLE schema_files(
            aggregate TEXT PRIMARY KEY,
            sha256 TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
        // The store's own settings, e.g. the secret key derived ids are made with (`id_key`).
        """
        CREATE TABLE meta(
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
        // Durable timers: a command's `notBefore` (ms since the epoch; NULL: at once).
        """
        ALTER TABLE commands ADD COLUMN not_before INTEGER;
        CREATE INDEX commands_scheduled ON commands(not_before) WHERE status = 'pending' AND not_before IS NOT NULL;
        """,
        // Views kept for projectors, in generations (a rebuild writes generation + 1 beside the live one).
        """
        CREATE TABLE projectors(
            name TEXT PRIMARY KEY,
            generation INTEGER NOT NULL,
            cursor INTEGER NOT NULL,
            rebuild_cursor INTEGER,
            status TEXT NOT NULL,
            last_error TEXT,
            updated_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE views(
            name TEXT PRIMARY KEY,
            projector TEXT NOT NULL,
            generation INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE view_documents(
            view TEXT NOT NULL,
            generation INTEGER NOT NULL,
            key TEXT NOT NULL,
            doc TEXT NOT NULL,
            PRIMARY KEY(view, generation, key)
        ) WITHOUT ROWID;
        """,
        // Unique fields: each value (its reservation key) of a unique state field, and the entity holding it.
        """
        CREATE TABLE unique_values(
            aggregate TEXT NOT NULL,
            field TEXT NOT NULL,
            value TEXT NOT NULL,
            entity TEXT NOT NULL,
            PRIMARY KEY(aggregate, field, value)
        ) WITHOUT ROWID;
        CREATE INDEX unique_values_entity ON unique_values(aggregate, field, entity);
        """,
    ]

    static func migrate(_ connection: SQLiteConnection) throws {
        let current = Int(try connection.scalarInt("PRAGMA user_version") ?? 0)
        guard current < migrations.count else { return }
        try connection.execute("BEGIN IMMEDIATE")
        do {
            for (i, sql) in migrations.enumerated() where i >= current {
                try connection.execute(sql)
            }
            try connection.execute("PRAGMA user_version = \(migrations.count)")
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }
}
