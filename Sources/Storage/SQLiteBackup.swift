import CSQLite
import Shared

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
        do { try FileSync.sync(path: path) } catch {
            throw SQLiteError(code: SQLITE_IOERR, message: String(cString: strerror(error.code)), context: error.call)
        }
        finished = true
    }
}
