import CSQLite
import FoundationEssentials

/// `SQLITE_TRANSIENT` is a C macro Swift cannot import: it tells SQLite to copy bound bytes at once.
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A failed SQLite call: the primary/extended result code and SQLite's own message.
public struct SQLiteError: Error, CustomStringConvertible, Equatable, Sendable {
    public let code: Int32
    public let message: String
    /// The SQL (or operation) being run, when known.
    public let context: String?

    public init(code: Int32, message: String, context: String? = nil) {
        self.code = code
        self.message = message
        self.context = context
    }

    /// The primary result code (extended codes carry it in the low byte).
    public var primaryCode: Int32 { code & 0xff }

    public var description: String {
        let base = "SQLite error \(code): \(message)"
        guard let context else { return base }
        return "\(base) (in: \(context.prefix(200)))"
    }
}

/// One SQLite connection with the `unicase` collation registered.
///
/// Deliberately not `Sendable`: confine each connection (and its statements) to one thread or task.
public final class SQLiteConnection {
    /// The raw handle, for the rare call the wrapper does not cover. Invalid after `close()`.
    public private(set) var handle: OpaquePointer?

    /// How long a statement waits on another connection's lock before failing with `SQLITE_BUSY`.
    public static let busyTimeoutMillis: Int32 = 5000

    /// Opens `path` (a plain path, or a `file:` URI). `readOnly` opens without write access and never
    /// creates; otherwise `create` decides whether a missing file is created.
    public init(path: String, readOnly: Bool = false, create: Bool = false) throws {
        // URI parsing only for explicit `file:` names, so odd plain paths are never misread.
        var flags = SQLITE_OPEN_NOMUTEX | (path.hasPrefix("file:") ? SQLITE_OPEN_URI : 0)
        if readOnly {
            flags |= SQLITE_OPEN_READONLY
        } else {
            flags |= SQLITE_OPEN_READWRITE
            if create { flags |= SQLITE_OPEN_CREATE }
        }
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: message, context: "open \(path)")
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, Self.busyTimeoutMillis)
        if let problem = Self.harden(db) {
            sqlite3_close_v2(db)
            handle = nil
            throw SQLiteError(code: SQLITE_ERROR, message: problem, context: "open \(path)")
        }
        let crc = Unicase.register(on: db)
        guard crc == SQLITE_OK else {
            let error = SQLiteError(code: crc, message: String(cString: sqlite3_errmsg(db)), context: "register unicase")
            sqlite3_close_v2(db)
            handle = nil
            throw error
        }
    }

    deinit { close() }

    /// Closes the connection. Idempotent. Unfinalized statements keep the handle alive until they go.
    public func close() {
        statementCache.removeAll()
        idleStatements.removeAll()
        if let db = handle {
            sqlite3_close_v2(db)
            handle = nil
        }
    }

    // MARK: Statement caches (statements do not retain their connection, so there is no cycle)

    /// At most this many statements are kept per cache; further SQL is prepared each time.
    static let statementCacheLimit = 48

    /// `cachedStatement(_:)`: shared, long-lived statements (the caller resets them before use).
    private var statementCache: [String: SQLiteStatement] = [:]
    /// The convenience queries' statements, reset and unbound, checked out while in use.
    private var idleStatements: [String: SQLiteStatement] = [:]

    /// A statement for `sql` prepared once per connection and then shared by every caller that
    /// asks for the same text; callers reset it (and rebind every parameter) before each use, and
    /// keep the connection itself alive while they use it.
    public func cachedStatement(_ sql: String) throws -> SQLiteStatement {
        if let s = statementCache[sql] { return s }
        guard statementCache.count < Self.statementCacheLimit else { return try prepare(sql) }
        let s = try prepare(sql, retaining: false)
        statementCache[sql] = s
        return s
    }

    /// Runs `body` with a reset, unbound statement for `sql`, kept for the next call afterwards.
    private func withStatement<T>(_ sql: String, _ body: (SQLiteStatement) throws -> T) throws -> T {
        let stmt = try idleStatements.removeValue(forKey: sql) ?? prepare(sql, retaining: false)
        defer {
            // Reset at once: a statement left mid-result would hold a read transaction open.
            stmt.reset()
            stmt.clearBindings()
            if handle != nil && idleStatements.count < Self.statementCacheLimit { idleStatements[sql] = stmt }
        }
        return try body(stmt)
    }

    public var isOpen: Bool { handle != nil }

    func requireHandle(_ context: String? = nil) throws -> OpaquePointer {
        guard let db = handle else {
            throw SQLiteError(code: SQLITE_MISUSE, message: "connection is closed", context: context)
        }
        return db
    }

    func error(_ rc: Int32, _ context: String?) -> SQLiteError {
        let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
        return SQLiteError(code: rc, message: message, context: context)
    }

    /// Runs one or more statements that return no rows of interest.
    public func execute(_ sql: String) throws {
        let db = try requireHandle(sql)
        var errmsg: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errmsg)
        if rc != SQLITE_OK {
            let message = errmsg.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(errmsg)
            throw SQLiteError(code: rc, message: message, context: sql)
        }
    }

    /// Compiles a single statement.
    public func prepare(_ sql: String) throws -> SQLiteStatement {
        try prepare(sql, retaining: true)
    }

    private func prepare(_ sql: String, retaining: Bool) throws -> SQLiteStatement {
        let db = try requireHandle(sql)
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc, sql) }
        return SQLiteStatement(connection: retaining ? self : nil, stmt: stmt, sql: sql)
    }

    /// Rows changed by the most recent INSERT, UPDATE or DELETE.
    public var changes: Int { handle.map { Int(sqlite3_changes($0)) } ?? 0 }

    public var lastInsertRowID: Int64 { handle.map { sqlite3_last_insert_rowid($0) } ?? 0 }

    /// True while a transaction is open on this connection.
    public var inTransaction: Bool { handle.map { sqlite3_get_autocommit($0) == 0 } ?? false }

    // MARK: Transactions

    /// `immediate` takes the write lock at once, so a later write cannot fail with BUSY mid-transaction.
    public func begin(immediate: Bool = false) throws {
        try execute(immediate ? "BEGIN IMMEDIATE" : "BEGIN")
    }

    public func commit() throws { try execute("COMMIT") }

    public func rollback() throws { try execute("ROLLBACK") }

    /// Runs `body` in a transaction: commits if it returns, rolls back if it throws.
    public func transaction<T>(immediate: Bool = false, _ body: () throws -> T) throws -> T {
        try begin(immediate: immediate)
        do {
            let result = try body()
            try commit()
            return result
        } catch {
            if inTransaction { try? rollback() }
            throw error
        }
    }

    // MARK: Convenience queries

    /// Runs a statement with the given parameters to completion.
    public func run(_ sql: String, _ params: [SQLiteValue] = []) throws {
        try withStatement(sql) { stmt in
            try stmt.bind(params)
            while try stmt.step() {}
        }
    }

    /// First column of the first row, or nil when there is no row.
    public func scalar(_ sql: String, _ params: [SQLiteValue] = []) throws -> SQLiteValue? {
        try withStatement(sql) { stmt in
            try stmt.bind(params)
            return try stmt.step() ? stmt.value(0) : nil
        }
    }

    /// All rows of a query, each as an array of values (for small result sets).
    public func rows(_ sql: String, _ params: [SQLiteValue] = []) throws -> [[SQLiteValue]] {
        try withStatement(sql) { stmt in
            try stmt.bind(params)
            var out: [[SQLiteValue]] = []
            while try stmt.step() {
                out.append((0..<stmt.columnCount).map { stmt.value($0) })
            }
            return out
        }
    }
}

/// A dynamically typed SQLite value (storage class plus payload).
public enum SQLiteValue: Equatable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public var int64: Int64? { if case .integer(let v) = self { v } else { nil } }
    public var string: String? { if case .text(let v) = self { v } else { nil } }
    public var bytes: [UInt8]? { if case .blob(let v) = self { v } else { nil } }
}

/// A prepared statement. Parameter and column indexes follow SQLite: parameters from 1, columns from 0.
public final class SQLiteStatement {
    /// Keeps the connection open while the statement lives; nil for the connection's own cached
    /// statements (a cycle otherwise), which are only used through the connection.
    private let connection: SQLiteConnection?
    private var stmt: OpaquePointer?
    public let sql: String

    init(connection: SQLiteConnection?, stmt: OpaquePointer, sql: String) {
        self.connection = connection
        self.stmt = stmt
        self.sql = sql
    }

    private func error(_ rc: Int32) -> SQLiteError {
        let message = sqlite3_db_handle(stmt).map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
        return SQLiteError(code: rc, message: message, context: sql)
    }

    deinit { sqlite3_finalize(stmt) }

    private func check(_ rc: Int32) throws {
        if rc != SQLITE_OK { throw error(rc) }
    }

    // MARK: Binding

    public func bind(_ index: Int32, _ value: Int64) throws { try check(sqlite3_bind_int64(stmt, index, value)) }
    public func bind(_ index: Int32, _ value: Int) throws { try bind(index, Int64(value)) }
    public func bind(_ index: Int32, _ value: Double) throws { try check(sqlite3_bind_double(stmt, index, value)) }
    public func bindNull(_ index: Int32) throws { try check(sqlite3_bind_null(stmt, index)) }

    /// Binds as TEXT.
    public func bind(_ index: Int32, _ value: String) throws {
        try check(sqlite3_bind_text(stmt, index, value, -1, sqliteTransient))
    }

    /// Binds UTF-8 bytes as TEXT (all of them, NUL bytes included).
    public func bindText(_ index: Int32, _ utf8: [UInt8]) throws {
        guard !utf8.isEmpty else { return try bind(index, "") }  // a nil pointer would bind NULL
        try utf8.withUnsafeBufferPointer { buf in
            try buf.withMemoryRebound(to: CChar.self) { c in
                try check(sqlite3_bind_text64(stmt, index, c.baseAddress, sqlite3_uint64(c.count), sqliteTransient,
                                              UInt8(SQLITE_UTF8)))
            }
        }
    }

    /// Binds as BLOB (an empty array is a zero-length blob, not NULL).
    public func bind(_ index: Int32, _ value: [UInt8]) throws {
        try value.withUnsafeBytes { buf in
            try check(sqlite3_bind_blob64(stmt, index, buf.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
                                          sqlite3_uint64(buf.count), sqliteTransient))
        }
    }

    /// Binds as BLOB.
    public func bind(_ index: Int32, _ value: Data) throws { try bind(index, [UInt8](value)) }

    public func bind(_ index: Int32, _ value: SQLiteValue) throws {
        switch value {
        case .null: try bindNull(index)
        case .integer(let v): try bind(index, v)
        case .real(let v): try bind(index, v)
        case .text(let v): try bind(index, v)
        case .blob(let v): try bind(index, v)
        }
    }

    /// Binds integers to consecutive parameters starting at `first` (the hot row-merge paths).
    public func bindIntegers(from first: Int32, _ values: Int64...) throws {
        for (i, v) in values.enumerated() { try bind(first + Int32(i), v) }
    }

    /// Binds `values` to parameters 1...n.
    public func bind(_ values: [SQLiteValue]) throws {
        for (i, v) in values.enumerated() { try bind(Int32(i + 1), v) }
    }

    public func clearBindings() { sqlite3_clear_bindings(stmt) }

    // MARK: Stepping

    /// Advances: true when a row is available, false when done.
    @discardableResult
    public func step() throws -> Bool {
        let rc = sqlite3_step(stmt)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            // sqlite3_reset repeats the error code; the connection already holds the message.
            let failure = error(rc)
            sqlite3_reset(stmt)
            throw failure
        }
    }

    /// Rewinds for another execution; bindings are kept.
    public func reset() { sqlite3_reset(stmt) }

    // MARK: Columns

    public var columnCount: Int32 { sqlite3_column_count(stmt) }

    public func columnName(_ i: Int32) -> String { String(cString: sqlite3_column_name(stmt, i)) }

    /// The storage class of the column in the current row (`SQLITE_INTEGER`, `SQLITE_TEXT`, …).
    public func columnType(_ i: Int32) -> Int32 { sqlite3_column_type(stmt, i) }

    public func isNull(_ i: Int32) -> Bool { columnType(i) == SQLITE_NULL }

    public func int64(_ i: Int32) -> Int64 { sqlite3_column_int64(stmt, i) }

    public func double(_ i: Int32) -> Double { sqlite3_column_double(stmt, i) }

    /// The column as text (SQLite converts other classes; NULL gives "").
    public func text(_ i: Int32) -> String {
        guard let p = sqlite3_column_text(stmt, i) else { return "" }
        let n = Int(sqlite3_column_bytes(stmt, i))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }

    /// The column as bytes (SQLite converts other classes; NULL gives []).
    public func blob(_ i: Int32) -> [UInt8] {
        guard let p = sqlite3_column_blob(stmt, i) else { return [] }
        let n = Int(sqlite3_column_bytes(stmt, i))
        return [UInt8](UnsafeRawBufferPointer(start: p, count: n))
    }

    public func value(_ i: Int32) -> SQLiteValue {
        switch columnType(i) {
        case SQLITE_INTEGER: .integer(int64(i))
        case SQLITE_FLOAT: .real(double(i))
        case SQLITE_TEXT: .text(text(i))
        case SQLITE_BLOB: .blob(blob(i))
        default: .null
        }
    }
}

extension SQLiteConnection {
    /// Opens `path` read-only as `immutable` (no locks, no `-wal`/`-shm` created, nothing written
    /// next to it): for reading files nobody else changes, such as a snapshot kept in a backup folder
    /// or an upload being validated. `immutable=1` also makes SQLite ignore a WAL-mode header, so the
    /// main file is read alone.
    public static func openImmutable(path: String) throws -> SQLiteConnection {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let hex = Array("0123456789ABCDEF".utf8)
        var uri = "file:"
        for byte in absolute.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "/"), UInt8(ascii: "-"),
                 UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                uri.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                uri.unicodeScalars.append("%")
                uri.unicodeScalars.append(Unicode.Scalar(hex[Int(byte >> 4)]))
                uri.unicodeScalars.append(Unicode.Scalar(hex[Int(byte & 15)]))
            }
        }
        return try SQLiteConnection(path: uri + "?mode=ro&immutable=1", readOnly: true)
    }
}
