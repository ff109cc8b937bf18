import EventoCore
import PostgresNIO

extension PostgresStore: ConsoleQueries {
    /// A skip scan over `events_entity_sequence`: one index step per id returned, so the cost is the page's
    /// size, not the number of events (ids compare in the database's collation; the store's own server
    /// from scripts/postgres.sh uses C.UTF-8, which is code-point order).
    public func entityIds(prefix: String, after: String?, limit: Int) async throws -> [String] {
        let start = max(after ?? "", prefix)
        let inclusive = (after ?? "") < prefix
        var b = PostgresBindings()
        b.append(start)
        b.append(inclusive)
        b.append(prefix)
        b.append(limit)
        let rows = try await read(
            PostgresQuery(
                unsafeSQL: """
                    WITH RECURSIVE t(e, n) AS (
                      (SELECT entity, 1 FROM events WHERE (entity > $1 OR ($2 AND entity = $1)) ORDER BY entity LIMIT 1)
                      UNION ALL
                      SELECT (SELECT entity FROM events WHERE entity > t.e ORDER BY entity LIMIT 1), n + 1
                      FROM t WHERE t.e IS NOT NULL AND starts_with(t.e, $3) AND n < $4
                    )
                    SELECT e FROM t WHERE e IS NOT NULL AND starts_with(e, $3) LIMIT $4
                    """, binds: b))
        return try rows.map { try $0.decode(String.self) }
    }

    /// Pending and dead commands come through their partial indexes; the other statuses walk the log
    /// backwards from `beforeSeq` until the page is full.
    public func commands(_ filter: CommandFilter, beforeSeq: Int64?, limit: Int) async throws -> [(seq: Int64, record: CommandRecord)] {
        let condition = filter.sqlCondition()
        var b = PostgresBindings()
        b.append(beforeSeq ?? Int64.max)
        b.append(limit)
        return try await read(
            PostgresQuery(
                unsafeSQL: "SELECT seq, \(PostgresRows.commandColumns) FROM commands WHERE \(condition) AND seq < $1 ORDER BY seq DESC LIMIT $2",
                binds: b)
        ).map { (try $0.makeRandomAccess()[0].decode(Int64.self), try PostgresRows.command($0, offset: 1)) }
    }
}
