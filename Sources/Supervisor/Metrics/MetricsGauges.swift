import Glibc
import Shared

/// Fills the gauges of current state just before a scrape: connections by where they are,
/// workers by lifecycle state, and each user's disk use (cached, see `UserDiskUse`).
enum MetricsGauges {
    static func fill(_ metrics: ServerMetrics, frontDoor: FrontDoor, pool: WorkerPool, diskUse: UserDiskUse) {
        let r = metrics.registry
        var states = ["reading": 0, "login": 0, "idle": 0, "writing": 0]
        for conn in frontDoor.connections.values {
            switch conn.state {
            case .readingHead: states[conn.isSilent && !conn.fresh ? "idle" : "reading", default: 0] += 1
            case .readingLoginBody, .readingLegacyForm, .verifying: states["login", default: 0] += 1
            case .writing: states["writing", default: 0] += 1
            }
        }
        states["waiting"] = pool.waitingConnections
        states["in_worker"] = pool.connectionsInWorkers
        r.reset("anki_sync_connections")
        for (state, count) in states { r.set("anki_sync_connections", [state], Double(count)) }
        r.set("anki_sync_connections_limit", [], Double(frontDoor.maxConnections))

        r.reset("anki_sync_workers")
        r.reset("anki_sync_worker_up")
        for label in ["stopped", "running", "restart pending", "stopping", "backoff", "retired"] {
            r.set("anki_sync_workers", [label], 0)
        }
        let now = WallClock.monotonic()
        for record in pool.byIndex where !record.removed {
            var label = record.lifecycle.label
            if case .backingOff(let until) = record.lifecycle, now >= until { label = WorkerLifecycle.notRunning.label }
            r.add("anki_sync_workers", [label])
            r.set("anki_sync_worker_up", [record.user.name], record.isRunning ? 1 : 0)
            let use = diskUse.use(of: record.user.name, now: now)
            r.set("anki_sync_user_collection_bytes", [record.user.name], Double(use.collectionBytes))
            r.set("anki_sync_user_media_bytes", [record.user.name], Double(use.mediaBytes))
            r.set("anki_sync_user_media_files", [record.user.name], Double(use.mediaFiles))
        }
    }
}

/// Each user's disk use, measured at most every `maxAge` seconds per user, so frequent scrapes
/// of a server with large media folders cost nothing.
final class UserDiskUse {
    struct Use {
        var collectionBytes: Int64 = 0
        var mediaBytes: Int64 = 0
        var mediaFiles = 0
        var measured = -Double.infinity
    }

    static let maxAge = 30.0
    let base: String
    private var cache: [String: Use] = [:]

    init(base: String) { self.base = base }

    func use(of user: String, now: Double) -> Use {
        if let cached = cache[user], now - cached.measured < Self.maxAge { return cached }
        let folder = FilePath.join(base, user)
        var use = Use(measured: now)
        use.collectionBytes = DiskUsage.fileBytes(folder + "/collection.anki2") + DiskUsage.fileBytes(folder + "/collection.anki2-wal")
        use.mediaBytes = DiskUsage.bytes(under: folder + "/media") + DiskUsage.fileBytes(folder + "/media.db")
            + DiskUsage.fileBytes(folder + "/media.db-wal")
        use.mediaFiles = Self.countFiles(folder + "/media")
        cache[user] = use
        return use
    }

    static func countFiles(_ folder: String) -> Int {
        guard let dir = opendir(folder) else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            if entry.pointee.d_type == UInt8(DT_REG) { count += 1 }
        }
        return count
    }
}
