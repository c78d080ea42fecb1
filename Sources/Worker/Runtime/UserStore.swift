import FoundationEssentials
import Glibc
import Shared
import Storage

/// The one user's files, behind one lock: every request that touches the collection runs inside
/// `withCollection`/`exclusive`, so uploads, downloads and sync steps of this user never interleave.
/// (`Collection` is not Sendable; this lock is what confines it.)
final class UserStore: @unchecked Sendable {
    let folder: String
    let collectionPath: String
    private let lock = Lock()
    private var collection: Collection?

    init(folder: String) {
        self.folder = folder
        self.collectionPath = folder + "/collection.anki2"
    }

    /// Runs `body` with the collection open, creating a new one (official layout) if none exists yet.
    func withCollection<T>(_ body: (Collection) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(try openLocked())
    }

    /// Runs `body` holding the lock, with the collection closed (for replacing or streaming the file).
    func exclusive<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        collection?.close()
        collection = nil
        return try body()
    }

    /// Folds the WAL into the collection while the worker is idle (see
    /// `Collection.walAutocheckpointPages`), so the file a backup script copies holds every
    /// finished sync; does not open a closed collection.
    func checkpointWhenIdle() {
        lock.lock()
        defer { lock.unlock() }
        try? collection?.checkpointIfPending()
    }

    /// Gives the collection's page cache back (an idle worker's memory goes back to the kernel).
    func releaseMemory() {
        lock.lock()
        defer { lock.unlock() }
        collection?.releaseMemory()
    }

    func close() {
        lock.lock()
        defer { lock.unlock() }
        collection?.close()
        collection = nil
    }

    private func openLocked() throws -> Collection {
        if let collection { return collection }
        if access(collectionPath, F_OK) != 0 {
            try Collection.createNew(atPath: collectionPath, nowMillis: WallClock.nowMillis())
        }
        let opened = try Collection.open(atPath: collectionPath)
        collection = opened
        return opened
    }

    /// Removes temporary files a previous worker left behind (cut short by a crash).
    func removeStaleTemporaries() -> Int {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return 0 }
        var removed = 0
        // `.upload-*.tmp` from an interrupted upload; `.collection.anki2.new-*` from an interrupted creation.
        for name in names where (name.hasPrefix(UserStore.uploadPrefix) && name.hasSuffix(".tmp")) || name.hasPrefix(".collection.anki2.new-") {
            if unlink(folder + "/" + name) == 0 { removed += 1 }
        }
        // An interrupted restore: its new media folder goes; an old one moved aside comes back if
        // `media/` is missing (the restore did not finish), else it goes.
        for name in names where name.hasPrefix(".restore-media-") || name.hasPrefix(".restore-old-media-") {
            let path = folder + "/" + name
            if name.hasPrefix(".restore-old-media-") && access(folder + "/media", F_OK) != 0 && rename(path, folder + "/media") == 0 {
                continue
            }
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed += 1 }
        }
        return removed
    }

    static let uploadPrefix = ".upload-"
}
