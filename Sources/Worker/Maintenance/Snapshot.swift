import FoundationEssentials
import Glibc
import Shared
import Storage

/// `anki-sync-server snapshot USER DEST`: a consistent copy of the user's folder while the server runs.
///
/// Layout of DEST (created here; it must not exist):
///   collection.anki2   SQLite online backup of what is committed (an open normal-sync session's
///                      uncommitted writes are not in it)
///   media.db           SQLite online backup of the server media database
///   media/             the files media.db lists as present: hard links when on the same file
///                      system (media files are only replaced by rename, never changed in place),
///                      else fsynced copies
///   snapshot.json      written last: user, time, counts (`SnapshotInfo`)
///
/// Everything is read while holding the user's collection lock and the media lock, so the three
/// agree with each other: no upload, sync step or media change is half in the copy.
enum Snapshot {
    static func take(into dest: String, context: WorkerContext) throws -> String {
        guard dest.hasPrefix("/") else { throw MaintenanceError("the snapshot folder must be an absolute path") }
        guard !MaintenanceFiles.exists(dest) else { throw MaintenanceError("\(dest) already exists") }
        let parent = MaintenanceFiles.parent(of: dest)
        guard MaintenanceFiles.isDirectory(parent) else { throw MaintenanceError("\(parent) is not a folder") }
        try MaintenanceFiles.makeFolder(dest)
        do {
            let info = try copyLocked(into: dest, context: context)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try MaintenanceFiles.write(Array(try encoder.encode(info)) + [0x0a], to: dest + "/" + SnapshotInfo.fileName)
            try MaintenanceFiles.sync(dest)
            try MaintenanceFiles.sync(parent)
            var message = "snapshot of \(context.user) in \(dest): collection \(info.collectionBytes) bytes, "
                + "\(info.mediaFiles) media files (\(info.mediaBytes) bytes), media usn \(info.mediaLastUsn)"
            if !info.missingMediaFiles.isEmpty {
                message += "; \(info.missingMediaFiles.count) media file(s) listed by media.db were missing on the server and left out"
            }
            return message
        } catch {
            MaintenanceFiles.removeTree(dest)
            throw error
        }
    }

    private static func copyLocked(into dest: String, context: WorkerContext) throws -> SnapshotInfo {
        let collectionCopy = dest + "/collection.anki2"
        let mediaDBCopy = dest + "/media.db"
        let mediaCopy = dest + "/media"
        let media = context.media
        return try context.store.withCollection { _ -> SnapshotInfo in
            // A separate connection: the user's own connection may hold a sync session's open
            // transaction, whose writes must not be copied (nor disturbed).
            do {
                let reader = try SQLiteConnection(path: context.store.collectionPath)
                defer { reader.close() }
                try reader.backup(toPath: collectionCopy)
                try rollbackJournal(collectionCopy)
            } catch let error as SQLiteError {
                throw MaintenanceError("cannot copy the collection: \(error)")
            }
            chmod(collectionCopy, 0o600)
            let collectionBytes = MaintenanceFiles.regularFileSize(collectionCopy) ?? 0
            return try media.withDatabase { _ -> SnapshotInfo in
                do {
                    let reader = try SQLiteConnection(path: media.databasePath)
                    defer { reader.close() }
                    try reader.backup(toPath: mediaDBCopy)
                } catch let error as SQLiteError {
                    throw MaintenanceError("cannot copy media.db: \(error)")
                }
                chmod(mediaDBCopy, 0o600)
                try MaintenanceFiles.makeFolder(mediaCopy)
                // The files the copy lists as present, linked or copied.
                let copy = try MediaDatabase.open(atPath: mediaDBCopy)
                defer { copy.close() }
                let rows = try copy.connection.rows("SELECT fname, size FROM media WHERE size > 0 ORDER BY fname")
                var files = 0, linked = 0
                var bytes: Int64 = 0
                var missing: [String] = []
                for row in rows {
                    guard let name = row[0].string, let size = row[1].int64 else { continue }
                    if MediaNames.problem(with: name) != nil || name.contains("/") {
                        throw MaintenanceError("media.db lists an unusable file name \(name.debugDescription)")
                    }
                    let source = media.mediaFolder + "/" + name
                    if MaintenanceFiles.isSymbolicLink(source) {
                        context.log.warn("snapshot skips a symbolic link in media/", ["name": .string(name)])
                    }
                    guard let actual = MaintenanceFiles.regularFileSize(source), actual == size else {
                        // Same treatment as a download would give it: the record goes, no deletion spreads.
                        try copy.forgetMissing(named: name)
                        missing.append(name)
                        continue
                    }
                    if try MaintenanceFiles.linkOrCopy(source, mediaCopy + "/" + name) { linked += 1 }
                    files += 1
                    bytes += size
                }
                let lastUsn = try copy.lastUsn()
                try copy.connection.execute("PRAGMA journal_mode = DELETE")
                copy.close()
                try MaintenanceFiles.sync(mediaCopy)
                try MaintenanceFiles.sync(mediaDBCopy)
                for suffix in ["-wal", "-shm"] { unlink(mediaDBCopy + suffix) }
                return SnapshotInfo(format: SnapshotInfo.currentFormat, user: context.user, createdMillis: WallClock.nowMillis(),
                                    collectionBytes: collectionBytes, mediaFiles: files, mediaBytes: bytes, mediaLastUsn: lastUsn,
                                    linkedMediaFiles: linked, missingMediaFiles: missing)
            }
        }
    }

    /// Snapshot files are kept in rollback-journal mode: a WAL-mode header would make any reader
    /// (even a read-only one) create `-wal`/`-shm` files beside them, changing the snapshot.
    private static func rollbackJournal(_ path: String) throws {
        let db = try SQLiteConnection(path: path)
        defer { db.close() }
        try db.execute("PRAGMA journal_mode = DELETE")
    }
}
