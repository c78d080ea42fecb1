import CSQLite
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private func posixOpenReadOnly(_ path: String) -> Int32 { open(path, O_RDONLY) }
private func posixClose(_ fd: Int32) { _ = close(fd) }

extension SQLiteConnection {
    /// Copies this connection's `main` database into a new file at `path` with SQLite's online-backup
    /// API, then flushes it to disk. The copy is one consistent, committed state: read from this
    /// connection, it holds what this connection sees (open a separate connection to copy only what
    /// others committed). The copy is a self-contained file (no `-wal` is left next to it); its
    /// journal mode follows the source's header. Refuses to replace an existing file.
    public func backup(toPath path: String) throws {
        let source = try requireHandle("backup")
        guard access(path, F_OK) != 0 else {
            throw SQLiteError(code: SQLITE_CANTOPEN, message: "\(path) already exists", context: "backup")
        }
        let destination = try SQLiteConnection(path: path, create: true)
        var finished = false
        defer {
            destination.close()
            if !finished { for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) } }
        }
        let target = try destination.requireHandle("backup")
        guard let backup = sqlite3_backup_init(target, "main", source, "main") else {
            throw destination.error(sqlite3_errcode(target), "backup init")
        }
        // All pages in one step: the source is read under one read transaction, so the copy is one
        // snapshot. (Stepping in pieces would restart whenever another connection writes.)
        var rc = sqlite3_backup_step(backup, -1)
        var waited: Int32 = 0
        while (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && waited < SQLiteConnection.busyTimeoutMillis {
            usleep(10_000)
            waited += 10
            rc = sqlite3_backup_step(backup, -1)
        }
        let finishCode = sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE else { throw destination.error(rc, "backup step") }
        guard finishCode == SQLITE_OK else { throw destination.error(finishCode, "backup finish") }
        // A WAL-mode source gives a WAL-mode copy: fold the copy's WAL into its main file.
        _ = try? destination.rows("PRAGMA wal_checkpoint(TRUNCATE)")
        destination.close()
        unlink(path + "-wal")
        unlink(path + "-shm")
        let fd = posixOpenReadOnly(path)
        guard fd >= 0 else { throw SQLiteError(code: SQLITE_IOERR, message: String(cString: strerror(errno)), context: "open \(path)") }
        defer { posixClose(fd) }
        guard fsync(fd) == 0 else {
            throw SQLiteError(code: SQLITE_IOERR, message: String(cString: strerror(errno)), context: "fsync \(path)")
        }
        finished = true
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
