import CSQLite
import FoundationEssentials

/// Why the media database could not be used.
public enum MediaDatabaseError: Error, CustomStringConvertible, Equatable, Sendable {
    /// `user_version` is newer than this server understands.
    case unknownVersion(Int64)
    /// The media usn would leave the protocol's 32-bit range.
    case usnExhausted
    /// The file is not a server media database.
    case notAMediaDatabase(String)

    public var description: String {
        switch self {
        case .unknownVersion(let v): "media.db has schema version \(v); this server understands up to \(MediaDatabase.schemaVersion)"
        case .usnExhausted: "the media usn has reached 2^31 - 1"
        case .notAMediaDatabase(let why): "not a server media database: \(why)"
        }
    }
}

/// The current record of one file name (a tombstone when `size` is 0).
public struct MediaEntry: Equatable, Sendable {
    public var name: String
    /// The raw 20-byte SHA-1 of the content (kept on deletion).
    public var sha1: [UInt8]
    /// Bytes; 0 means deleted.
    public var size: Int64
    public var usn: Int64
    /// Unix seconds of the last change.
    public var mtime: Int64

    public init(name: String, sha1: [UInt8], size: Int64, usn: Int64, mtime: Int64) {
        self.name = name
        self.sha1 = sha1
        self.size = size
        self.usn = usn
        self.mtime = mtime
    }

    public var isLive: Bool { size > 0 }
}

/// The single `meta` row.
public struct MediaMeta: Equatable, Sendable {
    public var lastUsn: Int64
    /// Sum of the sizes of live files.
    public var totalBytes: Int64
    /// Number of live files (what `mediaSanity` compares with).
    public var liveFiles: Int64

    public init(lastUsn: Int64, totalBytes: Int64, liveFiles: Int64) {
        (self.lastUsn, self.totalBytes, self.liveFiles) = (lastUsn, totalBytes, liveFiles)
    }
}

/// One row of the change feed: name, usn and lowercase hex SHA-1 ("" for a deletion).
public struct MediaChange: Equatable, Sendable {
    public var name: String
    public var usn: Int64
    public var sha1Hex: String

    public init(name: String, usn: Int64, sha1Hex: String) {
        (self.name, self.usn, self.sha1Hex) = (name, usn, sha1Hex)
    }
}

/// The server media database of one user (`<user>/media.db`), in the official server's current
/// layout (schema version 4), so the data folder stays interchangeable with it:
///
/// - `media(fname TEXT PRIMARY KEY NOT NULL, csum BLOB NOT NULL, size INT NOT NULL, usn INT NOT NULL,
///   mtime INT NOT NULL)`, index `ix_usn(usn)`: one row per name, byte-exact and case-sensitive;
///   `csum` is the raw SHA-1 and stays after deletion; `size` 0 marks a deletion (tombstone, kept
///   forever); `usn` is the change that produced the row; `mtime` is its Unix time in seconds.
/// - `meta(last_usn, total_bytes, total_nonempty_files)`: one row; the last usn issued, the bytes
///   and number of live files.
///
/// Every real change takes `last_usn + 1`; no-ops take nothing; the counter never goes back.
/// Not Sendable: confine to one thread (the media service keeps it behind its lock).
public final class MediaDatabase {
    public static let schemaVersion: Int64 = 4
    /// Rows per `changes` page (the protocol's limit).
    public static let changesPageSize = 1000

    public let connection: SQLiteConnection

    private init(connection: SQLiteConnection) {
        self.connection = connection
    }

    public func close() { connection.close() }

    /// Opens `path`, creating a new database (or upgrading a version-3 one) when needed.
    public static func open(atPath path: String) throws -> MediaDatabase {
        let connection = try SQLiteConnection(path: path, create: true)
        let db = MediaDatabase(connection: connection)
        try connection.execute("PRAGMA journal_mode = WAL")
        let version = try connection.scalar("PRAGMA user_version")?.int64 ?? 0
        switch version {
        case 0:
            // An empty file, or one written by something else: only create into an empty schema.
            let tables = try connection.scalar("SELECT count(*) FROM sqlite_master")?.int64 ?? 0
            guard tables == 0 else { throw MediaDatabaseError.notAMediaDatabase("user_version 0 with \(tables) schema objects") }
            try connection.transaction(immediate: true) { try connection.execute(createSQL) }
        case 3:
            try connection.transaction(immediate: true) { try connection.execute(upgradeFrom3SQL) }
        case schemaVersion:
            break
        default:
            throw MediaDatabaseError.unknownVersion(version)
        }
        try connection.execute(createMovesSQL)
        return db
    }

    /// The server's own table beside the official layout (which ignores it): the file moves a
    /// committed upload still owes, so the commit and its moves are one atomic step. Not part of
    /// `user_version`; created on open, also in a folder the official server wrote.
    static let createMovesSQL = "CREATE TABLE IF NOT EXISTS pending_moves (usn INTEGER PRIMARY KEY, staged TEXT NOT NULL)"

    static let createSQL = """
        CREATE TABLE media (
          fname text NOT NULL PRIMARY KEY,
          csum blob NOT NULL,
          size int NOT NULL,
          usn int NOT NULL,
          mtime int NOT NULL
        );
        CREATE INDEX ix_usn ON media (usn);
        CREATE TABLE meta (
          last_usn int NOT NULL,
          total_bytes int NOT NULL,
          total_nonempty_files int NOT NULL
        );
        INSERT INTO meta (last_usn, total_bytes, total_nonempty_files) VALUES (0, 0, 0);
        PRAGMA user_version = 4;
        """

    /// Version 3 (`media(fname, csum NULL when deleted, sz, usn, deleted)`, `meta(usn, sz)`) to 4.
    /// Unlike the official upgrade, deletion records are kept (with a zero checksum, which is
    /// never shown for a deletion) and the old usn counter is kept, so no usn is ever reissued.
    static let upgradeFrom3SQL = """
        ALTER TABLE media RENAME TO media_v3;
        DROP INDEX IF EXISTS ix_usn;
        CREATE TABLE media (
          fname text NOT NULL PRIMARY KEY,
          csum blob NOT NULL,
          size int NOT NULL,
          usn int NOT NULL,
          mtime int NOT NULL
        );
        INSERT INTO media (fname, csum, size, usn, mtime)
          SELECT fname, coalesce(csum, zeroblob(20)), CASE WHEN csum IS NULL THEN 0 ELSE sz END, usn, deleted
          FROM media_v3;
        DROP TABLE media_v3;
        CREATE INDEX ix_usn ON media (usn);
        CREATE TABLE meta_v4 (
          last_usn int NOT NULL,
          total_bytes int NOT NULL,
          total_nonempty_files int NOT NULL
        );
        INSERT INTO meta_v4 (last_usn, total_bytes, total_nonempty_files)
          SELECT max(coalesce((SELECT max(usn) FROM meta), 0), coalesce((SELECT max(usn) FROM media), 0)),
                 coalesce((SELECT sum(size) FROM media WHERE size > 0), 0),
                 (SELECT count(*) FROM media WHERE size > 0);
        DROP TABLE meta;
        ALTER TABLE meta_v4 RENAME TO meta;
        PRAGMA user_version = 4;
        """

    // MARK: reading

    /// Runs `body` with the connection's prepared statement for `sql` (compiled once, not per file),
    /// reset before and after, so no statement is left mid-result holding a read transaction.
    private func withStatement<T>(_ sql: String, _ body: (SQLiteStatement) throws -> T) throws -> T {
        let stmt = try connection.cachedStatement(sql)
        stmt.reset()
        defer { stmt.reset() }
        return try body(stmt)
    }

    public func meta() throws -> MediaMeta {
        try withStatement("SELECT last_usn, total_bytes, total_nonempty_files FROM meta") { stmt in
            guard try stmt.step() else { throw MediaDatabaseError.notAMediaDatabase("meta row missing") }
            return MediaMeta(lastUsn: stmt.int64(0), totalBytes: stmt.int64(1), liveFiles: stmt.int64(2))
        }
    }

    public func lastUsn() throws -> Int64 { try meta().lastUsn }

    /// Records with `usn > after`, in ascending usn order, at most `limit`.
    public func changes(after: Int64, limit: Int = MediaDatabase.changesPageSize) throws -> [MediaChange] {
        try withStatement("""
            SELECT fname, usn, CASE WHEN size > 0 THEN lower(hex(csum)) ELSE '' END
            FROM media WHERE usn > ? ORDER BY usn LIMIT ?
            """) { stmt in
            try stmt.bind(1, after)
            try stmt.bind(2, limit)
            var out: [MediaChange] = []
            while try stmt.step() {
                out.append(MediaChange(name: stmt.text(0), usn: stmt.int64(1), sha1Hex: stmt.text(2)))
            }
            return out
        }
    }

    /// The record for `name` (byte-exact), live or deleted.
    public func entry(named name: String) throws -> MediaEntry? {
        try withStatement("SELECT fname, csum, size, usn, mtime FROM media WHERE fname = ?") { stmt in
            try stmt.bind(1, name)
            guard try stmt.step() else { return nil }
            return MediaEntry(name: stmt.text(0), sha1: stmt.blob(1), size: stmt.int64(2), usn: stmt.int64(3), mtime: stmt.int64(4))
        }
    }

    /// The record for `name` if it is live.
    public func liveEntry(named name: String) throws -> MediaEntry? {
        guard let entry = try entry(named: name), entry.isLive else { return nil }
        return entry
    }

    // MARK: changing

    /// One change of an upload, already validated.
    public enum Change: Equatable, Sendable {
        case addOrReplace(name: String, sha1: [UInt8], size: Int64)
        case delete(name: String)

        public var name: String {
            switch self {
            case .addOrReplace(let name, _, _), .delete(let name): name
            }
        }
    }

    /// What one change did.
    public enum Outcome: Equatable, Sendable {
        /// Delete of an absent or already deleted name.
        case alreadyDeleted
        /// Add of the content the live record already has.
        case identical
        case added(usn: Int64)
        case replaced(usn: Int64)
        case removed(usn: Int64)

        /// True when the file on disk must change.
        public var touchesDisk: Bool {
            switch self {
            case .alreadyDeleted, .identical: false
            case .added, .replaced, .removed: true
            }
        }
    }

    /// Applies `changes` in order in one transaction. `beforeCommit` runs inside it, after every
    /// row is written, with the outcomes; if it throws, nothing is applied. Returns the outcomes
    /// and the last usn after the commit.
    public func apply(_ changes: [Change], now: Int64,
                      beforeCommit: ([Outcome]) throws -> Void = { _ in }) throws -> (outcomes: [Outcome], lastUsn: Int64) {
        try connection.transaction(immediate: true) {
            var meta = try self.meta()
            var outcomes: [Outcome] = []
            outcomes.reserveCapacity(changes.count)
            let write = try connection.cachedStatement("INSERT OR REPLACE INTO media (fname, csum, size, usn, mtime) VALUES (?, ?, ?, ?, ?)")
            defer { write.reset() }
            func nextUsn() throws -> Int64 {
                guard meta.lastUsn < Int64(Int32.max) else { throw MediaDatabaseError.usnExhausted }
                meta.lastUsn += 1
                return meta.lastUsn
            }
            func store(_ name: String, _ sha1: [UInt8], _ size: Int64, _ usn: Int64) throws {
                write.reset()
                try write.bind(1, name)
                try write.bind(2, sha1)
                try write.bind(3, size)
                try write.bind(4, usn)
                try write.bind(5, now)
                try write.step()
            }
            for change in changes {
                let live = try liveEntry(named: change.name)
                switch (change, live) {
                case (.delete, nil):
                    outcomes.append(.alreadyDeleted)
                case (.delete(let name), let existing?):
                    let usn = try nextUsn()
                    try store(name, existing.sha1, 0, usn)
                    meta.totalBytes = max(0, meta.totalBytes - existing.size)
                    meta.liveFiles = max(0, meta.liveFiles - 1)
                    outcomes.append(.removed(usn: usn))
                case (.addOrReplace(let name, let sha1, let size), nil):
                    precondition(size > 0, "empty files are refused before they get here")
                    let usn = try nextUsn()
                    try store(name, sha1, size, usn)
                    meta.totalBytes += size
                    meta.liveFiles += 1
                    outcomes.append(.added(usn: usn))
                case (.addOrReplace(let name, let sha1, let size), let existing?):
                    precondition(size > 0, "empty files are refused before they get here")
                    if existing.sha1 == sha1 {
                        outcomes.append(.identical)
                    } else {
                        let usn = try nextUsn()
                        try store(name, sha1, size, usn)
                        meta.totalBytes = max(0, meta.totalBytes - existing.size) + size
                        outcomes.append(.replaced(usn: usn))
                    }
                }
            }
            try connection.run("UPDATE meta SET last_usn = ?, total_bytes = ?, total_nonempty_files = ?",
                               [.integer(meta.lastUsn), .integer(meta.totalBytes), .integer(meta.liveFiles)])
            try beforeCommit(outcomes)
            return (outcomes, meta.lastUsn)
        }
    }

    /// Drops the live record of a file that is missing on disk, without a deletion record (so the
    /// loss does not propagate as a delete), and takes it out of the totals. The usn is unchanged.
    public func forgetMissing(named name: String) throws {
        try connection.transaction(immediate: true) {
            guard let entry = try liveEntry(named: name) else { return }
            try connection.run("DELETE FROM media WHERE fname = ?", [.text(name)])
            try connection.run("""
                UPDATE meta SET total_bytes = max(0, total_bytes - ?), total_nonempty_files = max(0, total_nonempty_files - 1)
                """, [.integer(entry.size)])
        }
    }

    // MARK: pending moves

    /// One file move owed by a committed upload: the staged file (a name in the staging folder)
    /// that becomes the content of the record with `usn`; "" for a deletion (the file is removed).
    public struct PendingMove: Equatable, Sendable {
        public var usn: Int64
        public var staged: String

        public init(usn: Int64, staged: String) {
            (self.usn, self.staged) = (usn, staged)
        }
    }

    /// Records moves; call inside the transaction that writes their records (`apply`'s `beforeCommit`).
    public func addPendingMoves(_ moves: [PendingMove]) throws {
        guard !moves.isEmpty else { return }
        let insert = try connection.cachedStatement("INSERT OR REPLACE INTO pending_moves (usn, staged) VALUES (?, ?)")
        defer { insert.reset() }
        for move in moves {
            insert.reset()
            try insert.bind(1, move.usn)
            try insert.bind(2, move.staged)
            try insert.step()
        }
    }

    /// Forgets the moves up to `usn` (they are done and durable).
    public func dropPendingMoves(through usn: Int64) throws {
        try withStatement("DELETE FROM pending_moves WHERE usn <= ?") { stmt in
            try stmt.bind(1, usn)
            _ = try stmt.step()
        }
    }

    /// Every recorded move, in usn order.
    public func pendingMoves() throws -> [PendingMove] {
        try withStatement("SELECT usn, staged FROM pending_moves ORDER BY usn") { stmt in
            var out: [PendingMove] = []
            while try stmt.step() { out.append(PendingMove(usn: stmt.int64(0), staged: stmt.text(1))) }
            return out
        }
    }

    /// The record whose current usn is `usn`, if any (recovery of an interrupted apply).
    public func entry(withUsn usn: Int64) throws -> MediaEntry? {
        try withStatement("SELECT fname, csum, size, usn, mtime FROM media WHERE usn = ?") { stmt in
            try stmt.bind(1, usn)
            guard try stmt.step() else { return nil }
            return MediaEntry(name: stmt.text(0), sha1: stmt.blob(1), size: stmt.int64(2), usn: stmt.int64(3), mtime: stmt.int64(4))
        }
    }
}
