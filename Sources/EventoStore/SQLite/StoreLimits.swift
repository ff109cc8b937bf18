import EventoCore
import Foundation

/// The ceiling Evento's store works under: SQLite alone, inserting the same rows into the same table
/// (same columns, same unique indexes) with the same durability, one transaction per batch.
public enum StoreLimits {
    /// Rows per second SQLite inserts in a fresh database under `directory`.
    public static func rawAppendRate(directory: String, rows: Int, batch: Int, durable: Bool, payload: String) throws -> Double {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/raw-limit.sqlite"
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let c = try SQLiteConnection.open(path: path)
        try c.execute("PRAGMA journal_mode=WAL")
        try c.execute("PRAGMA synchronous=\(durable ? "FULL" : "NORMAL")")
        try c.execute(Schema.migrations[0])
        let insert = try c.statement(
            """
            INSERT INTO events(id, entity, sequence, type, time, payload, causation_id, causation_kind, correlation_id, traceparent, schema_id)
            VALUES(?1, ?2, ?3, ?4, ?5, ?6, NULL, 'external', ?1, NULL, 1)
            """)
        let started = ContinuousClock.now
        var written = 0
        var sequences: [Int: Int64] = [:]
        while written < rows {
            try c.execute("BEGIN IMMEDIATE")
            for _ in 0..<min(batch, rows - written) {
                let entity = written % 1000
                let seq = (sequences[entity] ?? 0) + 1
                sequences[entity] = seq
                insert.reset()
                try insert.bind(1, "raw-\(written)")
                try insert.bind(2, "bench:\(entity)")
                try insert.bind(3, seq)
                try insert.bind(4, "Happened")
                try insert.bind(5, Int64(written))
                try insert.bind(6, payload)
                try insert.step()
                written += 1
            }
            try c.execute("COMMIT")
        }
        let seconds = Double((ContinuousClock.now - started) / .milliseconds(1)) / 1000
        return Double(rows) / max(seconds, 1e-9)
    }
}
