import Glibc
import Shared
import Storage

/// Full sync for sync v8–10 clients, which exchange schema-11 files (COLLECTION.md §6). The
/// stored collection stays at schema 18: downloads get a downgraded temporary copy, uploads are
/// upgraded before they are validated and moved into place.
enum LegacyFullSync {
    static func download(_ exchange: SyncExchange, context: WorkerContext) throws {
        _ = try exchange.readBody(limit: RequestLimits.bodyLimit(.download, payloadLimit: context.maxDecompressedBytes))
        context.sessions.abortAny(reason: "download")
        let store = context.store
        _ = try store.withCollection { collection in
            try collection.prepareForDownload(nowMillis: WallClock.nowMillis())
        }
        let copy = store.folder + "/\(UserStore.uploadPrefix)legacy-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp"
        defer { for suffix in ["", "-journal", "-wal", "-shm"] { unlink(copy + suffix) } }
        // Copy under the lock (the collection is closed and checkpointed), downgrade outside it.
        try store.exclusive {
            do { try FileSync.copy(from: store.collectionPath, to: copy, durable: false) } catch {
                throw InternalError("cannot copy the collection: \(error)")
            }
        }
        do {
            try Schema11.downgrade(atPath: copy)
        } catch {
            throw InternalError("cannot convert the collection to schema 11: \(error)")
        }
        try FullSyncHandlers.sendFile(copy, what: "the schema-11 copy", exchange: exchange)
    }

    /// Brings an uploaded schema-11 file (already on disk, closed) to schema 18, then syncs it.
    static func upgradeUpload(atPath path: String) throws {
        defer { for suffix in ["-journal", "-wal", "-shm"] { unlink(path + suffix) } }
        try Schema11.upgrade(atPath: path, nowSecs: WallClock.nowMillis() / 1000)
        do { try FileSync.sync(path: path) } catch { throw InternalError("the upgraded upload: \(error)") }
    }
}
