import CSQLite
import FoundationEssentials
import Shared

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a collection operation failed (SQLite failures surface as `SQLiteError`).
public enum CollectionError: Error, CustomStringConvertible, Equatable, Sendable {
    /// `createNew` refuses to replace an existing file.
    case alreadyExists(path: String)
    /// `open` found a file that is not a schema-18 collection.
    case notACollection(path: String, reason: String)
    /// `validateUpload` rejected the file.
    case invalidUpload(reason: String)
    /// The WAL could not be folded into the main file (another connection is reading or writing).
    case checkpointIncomplete(detail: String)
    /// A call on a closed collection, or a call that needs no open transaction while one is open.
    case misuse(String)
    /// A file-system call failed.
    case io(operation: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case .alreadyExists(let path): "collection already exists: \(path)"
        case .notACollection(let path, let reason): "not an Anki collection (\(path)): \(reason)"
        case .invalidUpload(let reason): "invalid collection upload: \(reason)"
        case .checkpointIncomplete(let detail): "WAL checkpoint incomplete: \(detail)"
        case .misuse(let text): "collection misuse: \(text)"
        case .io(let op, let path, let code): "\(op) failed for \(path): \(String(cString: strerror(code)))"
        }
    }
}

/// The `meta` view of a collection (PROTOCOL `meta` reply fields).
public struct CollectionMeta: Sendable, Equatable {
    /// Last modification, ms.
    public var mod: Int64
    /// Last schema change, ms.
    public var scm: Int64
    public var usn: Int64
    /// No rows in `cards`.
    public var isEmpty: Bool

    public init(mod: Int64, scm: Int64, usn: Int64, isEmpty: Bool) {
        self.mod = mod
        self.scm = scm
        self.usn = usn
        self.isEmpty = isEmpty
    }
}

/// One user's schema-18 collection file, open read-write.
///
/// Not `Sendable`: like its connection, confine it to one thread or task.
public final class Collection {
    public let path: String
    /// The underlying connection (unicase registered, WAL mode) for the sync engine's queries.
    public let db: SQLiteConnection

    private init(path: String, db: SQLiteConnection) {
        self.path = path
        self.db = db
    }

    deinit { close() }

    /// Closes the connection. Idempotent. The last close checkpoints and removes the `-wal` file.
    public func close() { db.close() }

    // MARK: Opening

    /// Opens an existing collection read-write. Never creates a file; throws `notACollection` if the
    /// file is missing, not SQLite, or not at schema 18.
    public static func open(atPath path: String) throws -> Collection {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CollectionError.notACollection(path: path, reason: "file does not exist")
        }
        let db: SQLiteConnection
        do {
            db = try SQLiteConnection(path: path)
        } catch let error as SQLiteError {
            throw CollectionError.notACollection(path: path, reason: error.description)
        }
        do {
            let hasCol = try db.scalar(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'col'")?.int64 ?? 0
            guard hasCol == 1 else {
                throw CollectionError.notACollection(path: path, reason: "no col table")
            }
            let ver = try db.rows("SELECT ver FROM col")
            guard ver.count == 1 else {
                throw CollectionError.notACollection(path: path, reason: "col has \(ver.count) rows, expected 1")
            }
            guard ver[0][0] == .integer(Schema.version) else {
                throw CollectionError.notACollection(path: path, reason: "schema version \(ver[0][0]), expected 18")
            }
            try db.execute("PRAGMA journal_mode = WAL")
            try db.execute("PRAGMA wal_autocheckpoint = \(Self.walAutocheckpointPages)")
            try db.execute("PRAGMA cache_size = -\(Self.pageCacheKiB)")
        } catch let error as SQLiteError {
            db.close()
            throw CollectionError.notACollection(path: path, reason: error.description)
        } catch {
            db.close()
            throw error
        }
        return Collection(path: path, db: db)
    }

    // MARK: Queries

    public func meta() throws -> CollectionMeta {
        let rows = try db.rows("SELECT mod, scm, usn FROM col")
        guard rows.count == 1, let mod = rows[0][0].int64, let scm = rows[0][1].int64, let usn = rows[0][2].int64 else {
            throw CollectionError.notACollection(path: path, reason: "col must hold exactly one row of integers")
        }
        let empty = try db.scalar("SELECT NOT EXISTS (SELECT 1 FROM cards)")?.int64 == 1
        return CollectionMeta(mod: mod, scm: scm, usn: usn, isEmpty: empty)
    }

    /// Readies the file for a full download: `usn += 1`, `mod = nowMillis` (PROTOCOL §6.13), then
    /// folds the WAL into the main file so its bytes are self-contained. Must be called outside a
    /// transaction; fails if another connection keeps the checkpoint from completing.
    public func prepareForDownload(nowMillis: Int64) throws {
        guard db.isOpen else { throw CollectionError.misuse("collection is closed") }
        guard !db.inTransaction else {
            throw CollectionError.misuse("prepareForDownload inside an open transaction")
        }
        try db.transaction(immediate: true) {
            try db.run("UPDATE col SET usn = usn + 1, mod = ?", [.integer(nowMillis)])
        }
        try checkpoint()
    }

    /// SQLite folds the WAL into the file inside the commit that passes this many pages (4 KiB
    /// each). The default, 1,000, made the commit of every large push pay for a checkpoint (half
    /// of a 10,000-note `finish`); the worker checkpoints when idle instead, and this only bounds
    /// the WAL of a user who never pauses.
    public static let walAutocheckpointPages = 8192

    /// SQLite's page cache for the collection, in KiB (SQLite's default: 2,000). A 10,000-note push
    /// on a 19 MiB collection spilled pages to the WAL mid-transaction and read them back; with
    /// 32 MiB it took 7 % less CPU and 10 % less time. The cache fills only as pages are used, and
    /// an idle worker gives it back (`releaseMemory`).
    public static let pageCacheKiB = 32 * 1024

    /// Frees the page cache's unused pages (for an idle worker).
    public func releaseMemory() {
        if let handle = db.handle { sqlite3_db_release_memory(handle) }
    }

    /// Checkpoints (`checkpoint()`) if the WAL holds anything and no transaction is open.
    public func checkpointIfPending() throws {
        var st = stat()
        guard !db.inTransaction, stat(path + "-wal", &st) == 0, st.st_size > 0 else { return }
        try checkpoint()
    }

    /// `PRAGMA wal_checkpoint(TRUNCATE)`, verified: busy must be 0 and the `-wal` file left empty.
    public func checkpoint() throws {
        let rows = try db.rows("PRAGMA wal_checkpoint(TRUNCATE)")
        guard rows.count == 1, rows[0].count == 3 else {
            throw CollectionError.checkpointIncomplete(detail: "unexpected pragma result \(rows)")
        }
        let busy = rows[0][0].int64 ?? -1, log = rows[0][1].int64 ?? -1, done = rows[0][2].int64 ?? -1
        guard busy == 0, log == done else {
            throw CollectionError.checkpointIncomplete(detail: "busy=\(busy) log=\(log) checkpointed=\(done)")
        }
        let walPath = path + "-wal"
        var st = stat()
        if stat(walPath, &st) == 0, st.st_size != 0 {
            throw CollectionError.checkpointIncomplete(detail: "\(walPath) still holds \(st.st_size) bytes")
        }
    }
}

// MARK: - Creating

extension Collection {
    /// Writes a brand-new collection (COLLECTION.md §5) to `path`: built in a temporary file in the
    /// same folder, synced, then linked into place atomically. Refuses to replace an existing file.
    public static func createNew(atPath path: String, nowMillis: Int64) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = dir + "/." + url.lastPathComponent + ".new-" + String(UInt64.random(in: 0 ... .max), radix: 16)
        if FileManager.default.fileExists(atPath: path) {
            throw CollectionError.alreadyExists(path: path)
        }
        do {
            try writeNew(atPath: tmp, nowMillis: nowMillis)
            try fsyncPath(tmp)
            try moveIntoPlace(from: tmp, to: path)
            try fsyncPath(dir)
        } catch {
            for suffix in ["", "-wal", "-shm", "-journal"] { unlink(tmp + suffix) }
            throw error
        }
    }

    private static func writeNew(atPath tmp: String, nowMillis: Int64) throws {
        let db = try SQLiteConnection(path: tmp, create: true)
        defer { db.close() }
        // The page size only takes effect before the first table exists.
        try db.execute("PRAGMA page_size = \(Schema.pageSize)")
        try db.transaction(immediate: true) {
            try Schema.create(on: db)
            try insertDefaults(db: db, nowMillis: nowMillis)
        }
        let check = try db.rows("PRAGMA integrity_check")
        guard check == [[.text("ok")]] else {
            throw CollectionError.notACollection(path: tmp, reason: "new collection failed integrity check: \(check)")
        }
        // Persistent: sets header bytes 18/19 to 2. Closing folds the WAL back and deletes it.
        let mode = try db.scalar("PRAGMA journal_mode = WAL")
        guard mode == .text("wal") else {
            throw CollectionError.notACollection(path: tmp, reason: "could not switch to WAL (got \(String(describing: mode)))")
        }
    }

    static func insertDefaults(db: SQLiteConnection, nowMillis: Int64) throws {
        let nowSecs = nowMillis / 1000
        try db.run(
            "INSERT INTO col VALUES (1, ?, 0, ?, ?, 0, 0, 0, '', '', '', '', '')",
            [.integer(creationDayStart(nowMillis: nowMillis)), .integer(nowMillis), .integer(Schema.version)])
        try db.run(
            "INSERT INTO deck_config (id, name, mtime_secs, usn, config) VALUES (1, 'Default', 0, 0, ?)",
            [.blob(DefaultObjects.deckConfigBlob())])
        try db.run(
            "INSERT INTO decks (id, name, mtime_secs, usn, common, kind) VALUES (1, 'Default', 0, 0, ?, ?)",
            [.blob(DefaultObjects.deckCommonBlob()), .blob(DefaultObjects.deckKindBlob())])

        // The reference uses creation-time milliseconds as stock notetype ids.
        let ntid = nowMillis
        try db.run(
            "INSERT INTO notetypes (id, name, mtime_secs, usn, config) VALUES (?, ?, 0, 0, ?)",
            [.integer(ntid), .text(DefaultObjects.basicName), .blob(DefaultObjects.notetypeConfigBlob())])
        for (ord, name) in DefaultObjects.fieldNames.enumerated() {
            try db.run(
                "INSERT INTO fields (ntid, ord, name, config) VALUES (?, ?, ?, ?)",
                [.integer(ntid), .integer(Int64(ord)), .text(name),
                 .blob(DefaultObjects.fieldConfigBlob(id: DefaultObjects.randomId()))])
        }
        try db.run(
            "INSERT INTO templates (ntid, ord, name, mtime_secs, usn, config) VALUES (?, 0, ?, 0, 0, ?)",
            [.integer(ntid), .text(DefaultObjects.templateName),
             .blob(DefaultObjects.templateConfigBlob(id: DefaultObjects.randomId()))])

        // Config values are JSON bytes stored as BLOB: clients ignore TEXT values (§1.6).
        let insertConfig = try db.prepare("INSERT INTO config (KEY, usn, mtime_secs, val) VALUES (?, 0, ?, ?)")
        for entry in DefaultObjects.configEntries(basicNotetypeId: ntid) {
            try insertConfig.bind(1, entry.key)
            try insertConfig.bind(2, entry.key == "curModel" ? nowSecs : 0)
            try insertConfig.bind(3, Array(entry.json.utf8))
            try insertConfig.step()
            insertConfig.reset()
        }
    }

    /// `col.crt`: 04:00 local time on the creation day, or on the previous day before 04:00 (secs).
    static func creationDayStart(nowMillis: Int64, timeZone: TimeZone = .current) -> Int64 {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let now = Date(timeIntervalSince1970: Double(nowMillis) / 1000)
        func fourAM(on day: Date) -> Date? {
            var parts = calendar.dateComponents([.year, .month, .day], from: day)
            parts.hour = 4
            return calendar.date(from: parts)
        }
        guard var start = fourAM(on: now) else { return nowMillis / 1000 }
        if start > now, let yesterday = calendar.date(byAdding: .day, value: -1, to: now),
           let earlier = fourAM(on: yesterday) {
            start = earlier
        }
        return Int64(start.timeIntervalSince1970.rounded(.down))
    }

    /// Publishes `tmp` at `path` without ever replacing an existing file (hard link, then unlink).
    private static func moveIntoPlace(from tmp: String, to path: String) throws {
        if link(tmp, path) == 0 {
            unlink(tmp)
            return
        }
        let err = errno
        if err == EEXIST { throw CollectionError.alreadyExists(path: path) }
        // File systems without hard links: fall back to rename (the existence check above still holds).
        guard err == EPERM || err == ENOTSUP || err == EOPNOTSUPP else {
            throw CollectionError.io(operation: "link", path: path, errno: err)
        }
        if FileManager.default.fileExists(atPath: path) { throw CollectionError.alreadyExists(path: path) }
        guard rename(tmp, path) == 0 else { throw CollectionError.io(operation: "rename", path: path, errno: errno) }
    }

    static func fsyncPath(_ path: String) throws {
        do { try FileSync.sync(path: path) } catch { throw CollectionError.io(operation: error.call, path: path, errno: error.code) }
    }
}
