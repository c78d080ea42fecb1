import Glibc
import Shared
import Storage

/// Full sync for sync v8–10 clients, which exchange schema-11 files (COLLECTION.md §6). The
/// stored collection stays at schema 18: downloads get a downgraded temporary copy, uploads are
/// upgraded before they are validated and moved into place.
enum LegacyFullSync {
    static func download(_ exchange: SyncExchange, context: WorkerContext) throws {
        _ = try exchange.readBody(limit: 64 * 1024)
        context.sessions.abortAny(reason: "download")
        let store = context.store
        _ = try store.withCollection { collection in
            try collection.prepareForDownload(nowMillis: WallClock.nowMillis())
        }
        let copy = store.folder + "/\(UserStore.uploadPrefix)legacy-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp"
        defer { for suffix in ["", "-journal", "-wal", "-shm"] { unlink(copy + suffix) } }
        // Copy under the lock (the collection is closed and checkpointed), downgrade outside it.
        try store.exclusive { try copyFile(from: store.collectionPath, to: copy) }
        do {
            try Schema11.downgrade(atPath: copy)
        } catch {
            throw SyncFailure(500, "cannot convert the collection to schema 11: \(error)")
        }
        try FullSyncHandlers.sendFile(copy, what: "the schema-11 copy", exchange: exchange)
    }

    /// Brings an uploaded schema-11 file (already on disk, closed) to schema 18, then syncs it.
    static func upgradeUpload(atPath path: String) throws {
        defer { for suffix in ["-journal", "-wal", "-shm"] { unlink(path + suffix) } }
        try Schema11.upgrade(atPath: path, nowSecs: WallClock.nowMillis() / 1000)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SyncFailure(500, "cannot reopen the upgraded upload") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw SyncFailure(500, "fsync of the upgraded upload failed") }
    }

    static func copyFile(from source: String, to target: String) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw SyncFailure(500, "cannot open the collection: \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw SyncFailure(500, "cannot create a temporary file: \(String(cString: strerror(errno)))") }
        defer { close(output) }
        var block = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = block.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw SyncFailure(500, "cannot read the collection") }
            if n == 0 { break }
            try block.withUnsafeBytes { try LegacyPayload.writeAll(output, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }
}
