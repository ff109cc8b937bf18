internal import CSQLite
import EventoCore

/// An error SQLite reported, turned into Swift once at the boundary.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var extendedCode: Int32
    public var message: String
    public var description: String { "SQLite error \(extendedCode): \(message)" }
}

/// One SQLite connection.
///
/// @unchecked Sendable: a connection is opened on one thread and handed once to the thread that owns it
/// from then on (the writer thread, or one reader thread of `ReaderPool`); it is never used concurrently.
final class SQLiteConnection: @unchecked Sendable {
    private let db: OpaquePointer
    private var statements: [String: SQLiteStatement] = [:]

    private init(db: OpaquePointer) { self.db = db }

    static func open(path: String, readOnly: Bool = false) throws -> SQLiteConnection {
        var handle: OpaquePointer?
        let flags =
            (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let handle { sqlite3_close_v2(handle) }
            throw SQLiteError(code: rc, extendedCode: rc, message: "\(message) (\(path))")
        }
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, 10_000)
        return SQLiteConnection(db: handle)
    }

    deinit {
        statements.removeAll()  // finalize before closing
        sqlite3_close_v2(db)
    }

    func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(code: rc & 0xFF, extendedCode: sqlite3_extended_errcode(db), message: String(cString: sqlite3_errmsg(db)))
    }

    /// Runs one or more statements that return no rows.
    func execute(_ sql: String) throws {
        var errmsg: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errmsg)
        if rc != SQLITE_OK {
            let message = errmsg.map { String(cString: $0) } ?? "error \(rc)"
            sqlite3_free(errmsg)
            throw SQLiteError(code: rc & 0xFF, extendedCode: sqlite3_extended_errcode(db), message: message)
        }
    }

    /// A prepared statement, cached by its SQL text; it comes back reset with its bindings cleared.
    func statement(_ sql: String) throws -> SQLiteStatement {
        if let s = statements[sql] {
            s.reset()
            return s
        }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc) }
        let s = SQLiteStatement(stmt: stmt, connection: self)
        statements[sql] = s
        return s
    }

    var changes: Int { Int(sqlite3_changes(db)) }
    /// No transaction is open (SQLite rolls one back by itself on some errors: a full disk, an I/O error).
    var isAutocommit: Bool { sqlite3_get_autocommit(db) != 0 }
    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(db) }

    /// Reads a single integer (`PRAGMA user_version`, counts).
    func scalarInt(_ sql: String) throws -> Int64? {
        let s = try statement(sql)
        defer { s.reset() }
        return try s.step() ? s.int64(0) : nil
    }
}

/// A prepared statement. Column and parameter indexes are 0-based for columns and 1-based for bindings,
/// as in SQLite.
final class SQLiteStatement {
    private let stmt: OpaquePointer
    private unowned let connection: SQLiteConnection

    init(stmt: OpaquePointer, connection: SQLiteConnection) {
        self.stmt = stmt
        self.connection = connection
    }

    deinit { sqlite3_finalize(stmt) }

    func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    func bind(_ index: Int32, _ value: Int64) throws {
        let rc = sqlite3_bind_int64(stmt, index, value)
        if rc != SQLITE_OK { throw connection.error(rc) }
    }

    func bind(_ index: Int32, _ value: Int) throws { try bind(index, Int64(value)) }

    func bind(_ index: Int32, _ value: String) throws {
        let rc = value.withCString { sqlite3_bind_text(stmt, index, $0, Int32(value.utf8.count), evento_sqlite_transient()) }
        if rc != SQLITE_OK { throw connection.error(rc) }
    }

    func bind(_ index: Int32, _ value: String?) throws {
        if let value { try bind(index, value) } else { try bindNull(index) }
    }

    func bind(_ index: Int32, _ value: Int64?) throws {
        if let value { try bind(index, value) } else { try bindNull(index) }
    }

    func bindNull(_ index: Int32) throws {
        let rc = sqlite3_bind_null(stmt, index)
        if rc != SQLITE_OK { throw connection.error(rc) }
    }

    /// Steps once: true when a row is available, false when done.
    @discardableResult
    func step() throws -> Bool {
        let rc = sqlite3_step(stmt)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let e = connection.error(rc)
            sqlite3_reset(stmt)
            throw e
        }
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(stmt, column) }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(stmt, column) == SQLITE_NULL }

    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }

    func string(_ column: Int32) -> String {
        guard let p = sqlite3_column_text(stmt, column) else { return "" }
        let n = Int(sqlite3_column_bytes(stmt, column))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }

    func optionalString(_ column: Int32) -> String? { isNull(column) ? nil : string(column) }
}
