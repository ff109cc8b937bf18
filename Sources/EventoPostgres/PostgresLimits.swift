import EventoCore
import Foundation
import Logging
import PostgresNIO

/// What PostgreSQL itself can do on this machine, for the bench to print beside Evento's figures: the
/// same rows written by a bare client, with no Evento in between.
public enum PostgresLimits {
    /// Rows per second of event rows inserted `batch` at a time, one transaction (one fsync) per batch, one
    /// statement per batch (arrays unnested, the fastest a client can write them), over `connections`
    /// connections into a scratch schema that is dropped afterwards.
    public static func rawAppendRate(url: String, rows: Int, batch: Int, connections: Int, payload: String) async throws -> Double {
        try await withScratch(url: url, connections: connections) { client in
            let perConnection = rows / connections
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for c in 0..<connections {
                    group.addTask {
                        var written = 0
                        while written < perConnection {
                            let n = min(batch, perConnection - written)
                            let base = c * perConnection + written
                            let ids = (0..<n).map { "raw-\(base + $0)" }
                            let entities = (0..<n).map { "bench:\(c)-\((base + $0) % 1000)" }
                            let sequences = (0..<n).map { Int64(base + $0) }
                            let payloads = Array(repeating: payload, count: n)
                            try await client.query(
                                """
                                INSERT INTO raw_events(id, entity, sequence, type, time, payload, causation_kind, correlation_id)
                                SELECT i, e, s, 'Happened', s, p, 'external', i FROM unnest(\(ids)::text[], \(entities)::text[], \(sequences)::int8[], \(payloads)::text[]) AS u(i, e, s, p)
                                """)
                            written += n
                        }
                    }
                }
                try await group.waitForAll()
            }
            return Double(perConnection * connections) / seconds(since: started)
        }
    }

    /// Transactions per second of one-row inserts (one fsync each) over `connections` connections: the
    /// ceiling of a write path that commits each item on its own.
    public static func rawCommitRate(url: String, transactions: Int, connections: Int) async throws -> Double {
        try await withScratch(url: url, connections: connections) { client in
            let per = transactions / connections
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for c in 0..<connections {
                    group.addTask {
                        for i in 0..<per {
                            let id = "tx-\(c)-\(i)"
                            try await client.query(
                                """
                                INSERT INTO raw_events(id, entity, sequence, type, time, payload, causation_kind, correlation_id)
                                VALUES (\(id), \(id), 1, 'Happened', 0, '{}', 'external', \(id))
                                """)
                        }
                    }
                }
                try await group.waitForAll()
            }
            return Double(per * connections) / seconds(since: started)
        }
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return max(Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18, 1e-9)
    }

    /// Runs `body` with a client whose connections use a scratch schema holding a table shaped like `events`.
    static func withScratch<T: Sendable>(url: String, connections: Int, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let schema = "evento_limit_" + String(Identifiers.uuidV7().replacingOccurrences(of: "-", with: "").suffix(12))
        var config = try PostgresStore.clientConfiguration(url: url)
        config.options.maximumConnections = connections + 1
        config.options.additionalStartupParameters = [("search_path", schema)]
        let client = PostgresClient(configuration: config, backgroundLogger: Logger(label: "evento.limit"))
        let runner = Task { await client.run() }
        defer { runner.cancel() }
        try await Task.sleep(for: .milliseconds(10))
        try await client.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"))
        do {
            try await client.query(
                """
                CREATE TABLE raw_events(
                    position bigserial PRIMARY KEY, id text NOT NULL UNIQUE, entity text NOT NULL, sequence bigint NOT NULL,
                    type text NOT NULL, time bigint NOT NULL, payload text NOT NULL, causation_id text, causation_kind text NOT NULL,
                    correlation_id text NOT NULL, traceparent text, schema_id int, UNIQUE (entity, sequence))
                """)
            let result = try await body(client)
            try await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \(schema) CASCADE"))
            return result
        } catch {
            _ = try? await client.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \(schema) CASCADE"))
            throw error
        }
    }
}
