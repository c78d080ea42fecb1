import FoundationEssentials
import Glibc
import Shared
import Storage

/// `anki-sync-server restore USER SNAPSHOT`: puts a snapshot (see `Snapshot`) back as the user's
/// folder, so that every device notices.
///
/// 1. Check, touching nothing: `snapshot.json` names this user; the collection passes the upload
///    checks (`Collection.validateUpload`); `media.db` opens as a server media database; every
///    file it lists as present is in `media/` with that size and SHA-1.
/// 2. Prepare beside the live files, still without locks: the collection copied to a temporary
///    file with `scm` (and `mod`) set to now, so every device's next sync is a full sync; the media
///    files linked (or copied) into a temporary folder.
/// 3. Under the collection lock and the media lock: roll back any open sync session; build the new
///    `media.db` from the snapshot's (see `restamp`); replace `collection.anki2` (rename; `-wal`/
///    `-shm` dropped), `media.db` and `media/` (old folder renamed aside, new one in, old deleted);
///    empty the media staging folder. The supervisor then restarts the worker.
///
/// Media usns (MEDIA.md 4.1, 5.3, 7.22): the usn never goes back and no value is reused. Every record
/// of the restored database — live files and tombstones — is re-stamped with a fresh usn above
/// `max(current last_usn, snapshot last_usn)`, in its old order, and `last_usn` becomes the highest
/// of them. Names the server knows now but the snapshot does not get a tombstone (also fresh), so
/// the restore is exact and tombstones stay forever. Every device's `lastUsn` is then below every
/// record: each one fetches the whole list, downloads files whose content differs, deletes files
/// the snapshot does not have (they go to the device's media trash), and its `mediaSanity` count
/// agrees. Keeping the snapshot's usns would let devices that are ahead skip changes silently;
/// bumping only `last_usn` (the MEDIA.md reset) would make every device re-upload the files added
/// since the snapshot, undoing part of the restore.
enum Restore {
    static func run(from snapshot: String, context: WorkerContext) throws -> String {
        guard snapshot.hasPrefix("/") else { throw MaintenanceError("the snapshot folder must be an absolute path") }
        guard MaintenanceFiles.isDirectory(snapshot) else { throw MaintenanceError("\(snapshot) is not a folder (symbolic links are not followed)") }
        let info = try readInfo(snapshot)
        guard info.user == context.user else {
            throw MaintenanceError("refusing: \(snapshot) is a snapshot of user \(info.user.debugDescription), not of \(context.user.debugDescription)")
        }
        let folder = context.store.folder
        let suffix = MaintenanceFiles.randomSuffix()
        // Names the worker's start-up cleanup removes if we die half-way (`.upload-*.tmp`).
        let newCollection = "\(folder)/\(UserStore.uploadPrefix)restore-\(suffix).tmp"
        let newMediaDB = "\(folder)/\(UserStore.uploadPrefix)restore-media-\(suffix).tmp"
        let newMediaFolder = "\(folder)/.restore-media-\(suffix)"
        let oldMediaFolder = "\(folder)/.restore-old-media-\(suffix)"
        var published = false
        defer {
            if !published {
                for path in [newCollection, newMediaDB] {
                    for s in ["", "-wal", "-shm", "-journal"] { unlink(path + s) }
                }
                MaintenanceFiles.removeTree(newMediaFolder)
            }
        }

        // 1 + 2: check and prepare, without locks.
        let snapshotCollection = snapshot + "/collection.anki2"
        do { try Collection.validateUpload(atPath: snapshotCollection) } catch {
            throw MaintenanceError("refusing: the snapshot's collection is damaged: \(error)")
        }
        let scm = WallClock.nowMillis()
        do {
            let source = try SQLiteConnection.openImmutable(path: snapshotCollection)
            defer { source.close() }
            try source.backup(toPath: newCollection)
            let copy = try SQLiteConnection(path: newCollection)
            defer { copy.close() }
            try copy.transaction(immediate: true) {
                try copy.run("UPDATE col SET scm = ?, mod = ?", [.integer(scm), .integer(scm)])
            }
            copy.close()
            try Collection.validateUpload(atPath: newCollection)
            try MaintenanceFiles.sync(newCollection)
        } catch let error as MaintenanceError {
            throw error
        } catch {
            throw MaintenanceError("cannot prepare the restored collection: \(error)")
        }

        let snapshotMediaDB = snapshot + "/media.db"
        guard MaintenanceFiles.regularFileSize(snapshotMediaDB) != nil else {
            throw MaintenanceError("refusing: the snapshot has no media.db")
        }
        do {
            let source = try SQLiteConnection.openImmutable(path: snapshotMediaDB)
            defer { source.close() }
            let check = try source.rows("PRAGMA integrity_check")
            guard check == [[.text("ok")]] else { throw MaintenanceError("refusing: the snapshot's media.db is damaged: \(check.prefix(3))") }
            try source.backup(toPath: newMediaDB)
        } catch let error as MaintenanceError {
            throw error
        } catch {
            throw MaintenanceError("refusing: the snapshot's media.db cannot be read: \(error)")
        }
        let live: [(name: String, size: Int64, sha1: [UInt8])]
        do {
            let db = try MediaDatabase.open(atPath: newMediaDB)
            defer { db.close() }
            live = try db.connection.rows("SELECT fname, size, csum FROM media WHERE size > 0 ORDER BY fname").map { row in
                guard let name = row[0].string, let size = row[1].int64, let sha1 = row[2].bytes else {
                    throw MaintenanceError("refusing: the snapshot's media.db has a malformed row")
                }
                return (name, size, sha1)
            }
        } catch let error as MaintenanceError {
            throw error
        } catch {
            throw MaintenanceError("refusing: the snapshot's media.db is not a server media database: \(error)")
        }
        if !live.isEmpty && !MaintenanceFiles.isDirectory(snapshot + "/media") {
            throw MaintenanceError("refusing: the snapshot's media is not a folder (a symbolic link is never followed)")
        }
        try MaintenanceFiles.makeFolder(newMediaFolder)
        for file in live {
            if MediaNames.problem(with: file.name) != nil || file.name.contains("/") {
                throw MaintenanceError("refusing: the snapshot's media.db lists an unusable file name \(file.name.debugDescription)")
            }
            let source = snapshot + "/media/" + file.name
            if MaintenanceFiles.isSymbolicLink(source) {
                throw MaintenanceError("refusing: the snapshot is damaged: media/\(file.name) is a symbolic link, not a file")
            }
            guard let size = MaintenanceFiles.regularFileSize(source) else {
                throw MaintenanceError("refusing: the snapshot is damaged: media/\(file.name) is missing")
            }
            guard size == file.size else {
                throw MaintenanceError("refusing: the snapshot is damaged: media/\(file.name) has \(size) bytes, media.db says \(file.size)")
            }
            guard try MaintenanceFiles.sha1(source) == file.sha1 else {
                throw MaintenanceError("refusing: the snapshot is damaged: media/\(file.name) does not match its checksum in media.db")
            }
            try MaintenanceFiles.linkOrCopy(source, newMediaFolder + "/" + file.name)
        }
        try MaintenanceFiles.sync(newMediaFolder)

        // 3: swap under the locks.
        context.sessions.abortAny(reason: "restore")
        let media = context.media
        let usns = try context.store.exclusive { () throws -> (old: Int64, new: Int64) in
            try media.exclusive { () throws -> (old: Int64, new: Int64) in
                let usns = try restamp(newMediaDB, current: media.databasePath, now: Int64(time(nil)))
                try MaintenanceFiles.sync(newMediaDB)

                let collectionPath = context.store.collectionPath
                for s in ["-wal", "-shm", "-journal"] { unlink(collectionPath + s) }
                guard rename(newCollection, collectionPath) == 0 else {
                    throw MaintenanceError.posix("cannot rename the restored collection to", collectionPath)
                }
                for s in ["-wal", "-shm", "-journal"] { unlink(media.databasePath + s) }
                guard rename(newMediaDB, media.databasePath) == 0 else { throw MaintenanceError.posix("cannot rename the restored media.db to", media.databasePath) }
                published = true
                let hadMedia = MaintenanceFiles.exists(media.mediaFolder)
                if hadMedia && rename(media.mediaFolder, oldMediaFolder) != 0 {
                    throw MaintenanceError.posix("cannot move the old media folder aside:", media.mediaFolder)
                }
                guard rename(newMediaFolder, media.mediaFolder) == 0 else {
                    let err = errno
                    if hadMedia { rename(oldMediaFolder, media.mediaFolder) }
                    throw MaintenanceError.posix("cannot rename the restored media folder to", media.mediaFolder, err)
                }
                // Staged files of the old database must never be matched against the new usns.
                if let names = try? FileManager.default.contentsOfDirectory(atPath: media.stagingFolder) {
                    for name in names { unlink(media.stagingFolder + "/" + name) }
                }
                try MaintenanceFiles.sync(folder)
                if hadMedia { MaintenanceFiles.removeTree(oldMediaFolder) }
                return usns
            }
        }
        context.log.info("restored from snapshot", ["snapshot": .string(snapshot), "scm": .of(scm),
                                                    "media_usn_before": .of(usns.old), "media_usn": .of(usns.new)])
        return "restored \(context.user) from \(snapshot): \(live.count) media files, collection schema time set to \(scm) "
            + "(every device must full-sync), media usn \(usns.old) -> \(usns.new)"
    }

    static func readInfo(_ snapshot: String) throws -> SnapshotInfo {
        let path = snapshot + "/" + SnapshotInfo.fileName
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MaintenanceError("refusing: \(path) is missing (not a snapshot, or an incomplete one)")
        }
        do {
            let info = try JSONDecoder().decode(SnapshotInfo.self, from: data)
            guard info.format == SnapshotInfo.currentFormat else {
                throw MaintenanceError("refusing: snapshot format \(info.format) is not supported")
            }
            return info
        } catch let error as MaintenanceError {
            throw error
        } catch {
            throw MaintenanceError("refusing: \(path) is damaged: \(error)")
        }
    }

    /// Gives every record of the restored media database at `path` a fresh usn above everything the
    /// server has issued (its current database at `current`, if any, and the snapshot itself), adds
    /// tombstones for names only the current database knows, and fixes the totals. Returns the
    /// current last usn and the new one.
    static func restamp(_ path: String, current: String, now: Int64) throws -> (old: Int64, new: Int64) {
        var currentLast: Int64 = 0
        var currentRows: [(name: String, sha1: [UInt8])] = []
        if MaintenanceFiles.exists(current) {
            let db = try MediaDatabase.open(atPath: current)
            defer { db.close() }
            currentLast = try db.lastUsn()
            currentRows = try db.connection.rows("SELECT fname, csum FROM media").compactMap { row in
                guard let name = row[0].string, let sha1 = row[1].bytes else { return nil }
                return (name, sha1)
            }
            // Any usn on a row counts as issued, even if meta were behind.
            currentLast = max(currentLast, try db.connection.scalar("SELECT max(usn) FROM media")?.int64 ?? 0)
        }
        let db = try MediaDatabase.open(atPath: path)
        defer { db.close() }
        let c = db.connection
        return try c.transaction(immediate: true) {
            let snapshotLast = max(try db.lastUsn(), try c.scalar("SELECT max(usn) FROM media")?.int64 ?? 0)
            let base = max(currentLast, snapshotLast)
            // Tombstones for names the snapshot lacks: ordered after every snapshot record.
            let exists = try c.prepare("SELECT 1 FROM media WHERE fname = ?")
            let insert = try c.prepare("INSERT INTO media (fname, csum, size, usn, mtime) VALUES (?, ?, 0, ?, ?)")
            for row in currentRows {
                exists.reset()
                try exists.bind(1, row.name)
                if try exists.step() { continue }
                insert.reset()
                try insert.bind(1, row.name)
                try insert.bind(2, row.sha1)
                try insert.bind(3, base + 1)
                try insert.bind(4, now)
                try insert.step()
            }
            // A statement left mid-step (the last name was found) would keep tables locked.
            exists.reset()
            insert.reset()
            let count = try c.scalar("SELECT count(*) FROM media")?.int64 ?? 0
            let newLast = base + max(count, 1)
            guard newLast <= Int64(Int32.max) else { throw MediaDatabaseError.usnExhausted }
            // One statement, no helper table: usns are unique, so each record keeps its old order.
            try c.run("""
                UPDATE media SET usn = ? + ranked.n
                FROM (SELECT fname, row_number() OVER (ORDER BY usn, fname) AS n FROM media) AS ranked
                WHERE ranked.fname = media.fname
                """, [.integer(base)])
            try c.run("""
                UPDATE meta SET last_usn = ?,
                  total_bytes = (SELECT coalesce(sum(size), 0) FROM media WHERE size > 0),
                  total_nonempty_files = (SELECT count(*) FROM media WHERE size > 0)
                """, [.integer(newLast)])
            return (currentLast, newLast)
        }
    }
}
