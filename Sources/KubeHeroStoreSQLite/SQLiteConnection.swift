import CSQLite

/// A failed SQLite call: the result code, SQLite's own message and the SQL that failed.
struct SQLiteError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Extended result code, e.g. `SQLITE_CONSTRAINT_UNIQUE` (2067) or `SQLITE_NOTADB` (26).
    var resultCode: Int32
    /// `sqlite3_errmsg` at the time of the failure.
    var message: String
    /// The statement that failed, if the failure belongs to one.
    var sql: String?

    /// The primary result code (`SQLITE_CONSTRAINT` for `SQLITE_CONSTRAINT_UNIQUE`).
    var primaryCode: Int32 { resultCode & 0xff }

    /// `SQLITE_CONSTRAINT_DATATYPE`, a value that does not fit a STRICT column (Swift does not
    /// import the extended-code macros).
    static let constraintDatatype: Int32 = SQLITE_CONSTRAINT | (12 << 8)

    var description: String {
        var text = "\(message) (SQLite result code \(resultCode))"
        if let sql {
            // Statements are written over several lines; one line reads better in a log.
            let oneLine = sql.split(whereSeparator: \.isNewline).map { $0.drop(while: \.isWhitespace) }.joined(separator: " ")
            text += " in SQL: \(oneLine)"
        }
        return text
    }
}

/// A value bound to a statement parameter.
enum SQLiteValue: Hashable, Sendable {
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case null

    static func integer(_ value: Int64?) -> SQLiteValue { value.map(SQLiteValue.integer) ?? .null }
    static func text(_ value: String?) -> SQLiteValue { value.map(SQLiteValue.text) ?? .null }
}

/// One `sqlite3*` handle, opened with `SQLITE_OPEN_NOMUTEX`: SQLite does no locking of its own
/// for it, so its owner must make sure only one thread uses it at a time (`SerialConnection`).
/// Every method blocks; call them on a thread-pool thread, never on an event loop.
final class SQLiteConnection {
    let path: String
    private var handle: OpaquePointer?
    /// Prepared statements by SQL text. Statements are compiled once per connection and reused:
    /// the ingest path runs the same few statements for every row.
    private var statements: [String: SQLiteStatement] = [:]

    /// `sqlite3_initialize` once per process, before the first open (it is not safe to race
    /// with itself in every build). A `static let` is initialised exactly once, thread-safely.
    private static let libraryInitialized: Int32 = sqlite3_initialize()

    /// Opens (creating if needed) the database file at `path`.
    init(path: String) throws {
        _ = Self.libraryInitialized
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(db)
            throw SQLiteError(resultCode: rc, message: message, sql: nil)
        }
        self.path = path
        self.handle = db
    }

    deinit { close() }

    /// Finalizes every statement and closes the handle. Later calls fail with `SQLITE_MISUSE`.
    func close() {
        statements.removeAll()  // each statement finalizes itself in deinit
        if let handle {
            sqlite3_close_v2(handle)
            self.handle = nil
        }
    }

    var isClosed: Bool { handle == nil }

    /// Waits up to `millis` for another connection's lock instead of failing with `SQLITE_BUSY`.
    func setBusyTimeout(millis: Int32) throws {
        let db = try open()
        try check(sqlite3_busy_timeout(db, millis), sql: nil)
    }

    /// Runs one or more `;`-separated statements that return no rows (schema scripts).
    func exec(_ sql: String) throws {
        let db = try open()
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(db))
            sqlite3_free(errorMessage)
            throw SQLiteError(resultCode: rc, message: message, sql: sql)
        }
    }

    /// The cached prepared statement for `sql`, reset and with no bindings. Use it, then `reset()`
    /// it (or use `run`/`query`, which do): a statement left mid-result holds its read snapshot.
    func statement(_ sql: String) throws -> SQLiteStatement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        let statement = try SQLiteStatement(connection: try open(), sql: sql)
        statements[sql] = statement
        return statement
    }

    /// Runs `sql` to completion; returns the number of rows it inserted, updated or deleted.
    @discardableResult
    func run(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> Int {
        let statement = try statement(sql)
        defer { statement.reset() }
        try statement.bind(bindings)
        while try statement.step() {}
        return changes
    }

    /// Every result row of `sql`, each turned into a value by `row`.
    func query<T>(_ sql: String, _ bindings: [SQLiteValue] = [], _ row: (SQLiteStatement) throws -> T) throws -> [T] {
        let statement = try statement(sql)
        defer { statement.reset() }
        try statement.bind(bindings)
        var result: [T] = []
        while try statement.step() {
            result.append(try row(statement))
        }
        return result
    }

    /// The first result row of `sql`, if any.
    func queryFirst<T>(_ sql: String, _ bindings: [SQLiteValue] = [], _ row: (SQLiteStatement) throws -> T) throws -> T? {
        let statement = try statement(sql)
        defer { statement.reset() }
        try statement.bind(bindings)
        return try statement.step() ? row(statement) : nil
    }

    enum TransactionKind: String {
        /// Takes the write lock at BEGIN, so the transaction cannot fail later for want of it.
        case immediate = "BEGIN IMMEDIATE"
        /// Reads one consistent snapshot.
        case deferred = "BEGIN DEFERRED"
    }

    /// Runs `body` in a transaction: COMMIT if it returns, ROLLBACK if it (or COMMIT) throws.
    func transaction<T>(_ kind: TransactionKind, _ body: () throws -> T) throws -> T {
        try run(kind.rawValue)
        do {
            let result = try body()
            try run("COMMIT")
            return result
        } catch {
            if let db = handle, sqlite3_get_autocommit(db) == 0 {
                // Keep the original error; a failing ROLLBACK leaves nothing more to do.
                _ = try? run("ROLLBACK")
            }
            throw error
        }
    }

    /// Rows changed by the most recent INSERT, UPDATE or DELETE.
    var changes: Int {
        handle.map { Int(sqlite3_changes64($0)) } ?? 0
    }

    private func open() throws -> OpaquePointer {
        guard let handle else {
            throw SQLiteError(resultCode: SQLITE_MISUSE, message: "the connection to \(path) is closed", sql: nil)
        }
        return handle
    }

    private func check(_ rc: Int32, sql: String?) throws {
        if rc != SQLITE_OK {
            throw SQLiteError(resultCode: rc, message: handle.map { String(cString: sqlite3_errmsg($0)) } ?? "", sql: sql)
        }
    }
}

/// A prepared statement. Parameters and columns are numbered as in SQLite: parameters from 1,
/// columns from 0. Owned by its connection's cache; same threading rules as the connection.
final class SQLiteStatement {
    let sql: String
    private let handle: OpaquePointer
    private let db: OpaquePointer

    fileprivate init(connection db: OpaquePointer, sql: String) throws {
        var statement: OpaquePointer?
        // PERSISTENT: the statement lives as long as the connection, so let SQLite place it
        // outside its lookaside memory.
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            sqlite3_finalize(statement)
            let message = rc == SQLITE_OK ? "no statement in SQL text" : String(cString: sqlite3_errmsg(db))
            throw SQLiteError(resultCode: rc == SQLITE_OK ? SQLITE_MISUSE : rc, message: message, sql: sql)
        }
        self.sql = sql
        self.handle = statement
        self.db = db
    }

    deinit { sqlite3_finalize(handle) }

    // MARK: Binding

    func bind(_ value: Int64, at index: Int32) throws {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    func bind(_ value: Double, at index: Int32) throws {
        try check(sqlite3_bind_double(handle, index, value))
    }

    func bind(_ value: String, at index: Int32) throws {
        // withCString always gives a non-null pointer, so "" binds as an empty text, not NULL.
        let count = Int32(value.utf8.count)
        try check(value.withCString { sqlite3_bind_text(handle, index, $0, count, sqliteTransient) })
    }

    func bind(_ value: [UInt8], at index: Int32) throws {
        try check(value.withUnsafeBytes { bytes in
            // A zero-length blob with a null pointer would bind NULL; zeroblob keeps it a blob.
            bytes.baseAddress == nil
                ? sqlite3_bind_zeroblob(handle, index, 0)
                : sqlite3_bind_blob(handle, index, bytes.baseAddress, Int32(bytes.count), sqliteTransient)
        })
    }

    func bindNull(at index: Int32) throws {
        try check(sqlite3_bind_null(handle, index))
    }

    func bind(_ value: SQLiteValue, at index: Int32) throws {
        switch value {
        case .integer(let v): try bind(v, at: index)
        case .real(let v): try bind(v, at: index)
        case .text(let v): try bind(v, at: index)
        case .blob(let v): try bind(v, at: index)
        case .null: try bindNull(at: index)
        }
    }

    /// Binds `values` to parameters 1, 2, ...
    func bind(_ values: [SQLiteValue]) throws {
        for (i, value) in values.enumerated() {
            try bind(value, at: Int32(i + 1))
        }
    }

    // MARK: Stepping

    /// Advances to the next row: `true` if there is one, `false` when the statement is done.
    func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteError(resultCode: rc, message: String(cString: sqlite3_errmsg(db)), sql: sql)
        }
    }

    /// Steps to completion, ignoring rows, then resets.
    func execute() throws {
        defer { reset() }
        while try step() {}
    }

    /// Makes the statement ready to run again, with no bindings, and ends its read snapshot.
    func reset() {
        // sqlite3_reset repeats the last step's error, which `step()` has already thrown.
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    // MARK: Columns

    func isNull(at column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    func int64(at column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    func optionalInt64(at column: Int32) -> Int64? {
        isNull(at: column) ? nil : int64(at: column)
    }

    func double(at column: Int32) -> Double {
        sqlite3_column_double(handle, column)
    }

    func text(at column: Int32) -> String {
        guard let bytes = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    func optionalText(at column: Int32) -> String? {
        isNull(at: column) ? nil : text(at: column)
    }

    func blob(at column: Int32) -> [UInt8] {
        guard let bytes = sqlite3_column_blob(handle, column) else { return [] }
        let count = Int(sqlite3_column_bytes(handle, column))
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }

    private func check(_ rc: Int32) throws {
        if rc != SQLITE_OK {
            throw SQLiteError(resultCode: rc, message: String(cString: sqlite3_errmsg(db)), sql: sql)
        }
    }
}

/// `SQLITE_TRANSIENT`, a C macro Swift does not import: SQLite copies the bound bytes at once.
private var sqliteTransient: sqlite3_destructor_type {
    unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}
