/// The PostgreSQL schema, applied in order at start under an advisory lock (instances starting together
/// apply it once); `evento_meta.schema_version` says how far a database is.
///
/// Positions are commit-ordered and gapless: every writing transaction locks the one `evento_feed` row
/// first and holds it until it commits, so positions are handed out in commit order and a reader that
/// sees position N sees every position below it (a sequence alone would let a later-committing writer
/// fill in a lower position behind a reader's back).
enum PostgresSchema {
    static let migrations: [[String]] = [
        [
            "CREATE TABLE evento_meta(key text PRIMARY KEY, value text NOT NULL)",
            "CREATE TABLE evento_feed(id int PRIMARY KEY CHECK (id = 1), head bigint NOT NULL)",
            "INSERT INTO evento_feed(id, head) VALUES (1, 0)",
            """
            CREATE TABLE events(
                position bigint PRIMARY KEY,
                id text NOT NULL UNIQUE,
                entity text NOT NULL,
                sequence bigint NOT NULL,
                type text NOT NULL,
                time bigint NOT NULL,
                payload text NOT NULL,
                causation_id text,
                causation_kind text NOT NULL,
                correlation_id text NOT NULL,
                traceparent text,
                schema_id int,
                CONSTRAINT events_entity_sequence UNIQUE (entity, sequence)
            )
            """,
            "CREATE INDEX events_causation ON events(causation_id) WHERE causation_id IS NOT NULL",
            """
            CREATE TABLE commands(
                seq bigserial PRIMARY KEY,
                id text NOT NULL UNIQUE,
                entity text NOT NULL,
                partition int NOT NULL,
                type text NOT NULL,
                payload text NOT NULL,
                causation_id text,
                causation_kind text NOT NULL,
                correlation_id text NOT NULL,
                traceparent text,
                status text NOT NULL,
                attempts int NOT NULL DEFAULT 0,
                last_error text,
                result_event_ids text NOT NULL DEFAULT '[]',
                created_at bigint NOT NULL,
                updated_at bigint NOT NULL,
                txid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint)
            )
            """,
            "CREATE INDEX commands_causation ON commands(causation_id) WHERE causation_id IS NOT NULL",
            "CREATE INDEX commands_pending ON commands(partition, seq) WHERE status = 'pending'",
            "CREATE INDEX commands_pending_tx ON commands(txid) WHERE status = 'pending'",
            "CREATE INDEX commands_dead ON commands(updated_at) WHERE status = 'dead'",
            """
            CREATE TABLE snapshots(
                entity text PRIMARY KEY, version bigint NOT NULL, state text NOT NULL, schema_id int, updated_at bigint NOT NULL)
            """,
            "CREATE TABLE relay_cursors(name text PRIMARY KEY, position bigint NOT NULL, updated_at bigint NOT NULL)",
            "CREATE TABLE functions(name text PRIMARY KEY, definition text NOT NULL, created_at bigint NOT NULL)",
            """
            CREATE TABLE dead_dispatches(
                id text PRIMARY KEY, dispatcher text NOT NULL, event_id text NOT NULL, attempts int NOT NULL,
                last_error text NOT NULL, created_at bigint NOT NULL)
            """,
            "CREATE TABLE registry_schemas(id int PRIMARY KEY, key text NOT NULL UNIQUE, schema text NOT NULL)",
            """
            CREATE TABLE registry_versions(
                subject text NOT NULL, version int NOT NULL, schema_id int NOT NULL, created_at bigint NOT NULL,
                PRIMARY KEY(subject, version))
            """,
            "CREATE TABLE registry_config(subject text PRIMARY KEY, compatibility text NOT NULL)",
            """
            CREATE TABLE aggregate_schemas(
                aggregate text NOT NULL, version int NOT NULL, definition text NOT NULL, created_at bigint NOT NULL,
                PRIMARY KEY(aggregate, version))
            """,
            "CREATE TABLE schema_files(aggregate text PRIMARY KEY, sha256 text NOT NULL)",
            // The cluster: who is alive, and who holds which lease (partitions, relays), on the database's clock.
            """
            CREATE TABLE evento_instances(
                id text PRIMARY KEY, address text NOT NULL, started_at timestamptz NOT NULL, last_seen timestamptz NOT NULL)
            """,
            """
            CREATE TABLE evento_leases(
                name text PRIMARY KEY, owner text, token bigint NOT NULL DEFAULT 0,
                expires_at timestamptz NOT NULL DEFAULT '-infinity')
            """,
        ],
        // Durable timers: a command's `notBefore` (ms since the epoch; NULL: at once).
        [
            "ALTER TABLE commands ADD COLUMN not_before bigint",
            "CREATE INDEX commands_scheduled ON commands(not_before) WHERE status = 'pending' AND not_before IS NOT NULL",
        ],
        // Views kept for projectors, in generations (a rebuild writes generation + 1 beside the live one).
        [
            """
            CREATE TABLE projectors(
                name text PRIMARY KEY, generation bigint NOT NULL, cursor bigint NOT NULL, rebuild_cursor bigint, status text NOT NULL,
                last_error text, updated_at bigint NOT NULL)
            """,
            "CREATE TABLE views(name text PRIMARY KEY, projector text NOT NULL, generation bigint NOT NULL)",
            """
            CREATE TABLE view_documents(
                view text NOT NULL, generation bigint NOT NULL, key text COLLATE "C" NOT NULL, doc text NOT NULL,
                PRIMARY KEY(view, generation, key))
            """,
        ],
        // Unique fields: each value (its reservation key) of a unique state field, and the entity holding it.
        [
            "CREATE TABLE unique_values(aggregate text NOT NULL, field text NOT NULL, value text NOT NULL, entity text NOT NULL, PRIMARY KEY(aggregate, field, value))",
            "CREATE INDEX unique_values_entity ON unique_values(aggregate, field, entity)",
        ],
    ]
}
