import Shared
import Storage

/// The per-user storage quota (SYNC_QUOTA_MEGS, SYNC_QUOTA_MEGS_<user>): the one place that decides
/// whether an upload may be stored. Disk use is what the user's folder holds (`DiskUsage`); an
/// upload is judged by what the folder would hold after it.
enum Quota {
    /// Media uploads are judged against a scan of the folder at most this old, moved by the uploads
    /// let through since: a 40,000-file library arrives in 1,600 uploads, and a scan of the whole
    /// folder for each one grew with the library.
    static let rescanSeconds = 30.0

    /// The disk use media uploads are judged by (see `rescanSeconds`).
    struct Estimate: Sendable {
        var bytes: Int64
        var scannedAt: Double
    }

    /// nil when the upload fits (or no quota applies); otherwise the sentence the client shows.
    /// Full upload, already written to its temporary file inside the user's folder (so counted):
    /// it will replace the current collection and its -wal.
    static func refuseCollection(context: WorkerContext) -> String? {
        guard let quota = context.limits.quotaBytes(for: context.user) else { return nil }
        let store = context.store
        let current = DiskUsage.bytes(under: store.folder)
        let replaced = DiskUsage.fileBytes(store.collectionPath) + DiskUsage.fileBytes(store.collectionPath + "-wal")
        context.diskUse.withLock { $0 = nil }
        return judge(after: current - replaced, quota: quota, what: "this collection upload", context: context)
    }

    /// Media upload: added or replaced files count with their new size, minus what they replace.
    static func refuseMedia(_ changes: [MediaDatabase.Change], context: WorkerContext) -> String? {
        guard let quota = context.limits.quotaBytes(for: context.user) else { return nil }
        let folder = context.media.mediaFolder
        return context.diskUse.withLock { estimate in
            let now = WallClock.monotonic()
            if estimate == nil || now - estimate!.scannedAt >= rescanSeconds {
                // Staged copies of new files are inside the folder: they count once, by size, below.
                estimate = Estimate(bytes: DiskUsage.bytes(under: context.store.folder) - DiskUsage.bytes(under: context.media.stagingFolder),
                                    scannedAt: now)
            }
            var after = estimate!.bytes
            for change in changes {
                after -= DiskUsage.fileBytes(folder + "/" + change.name)
                if case .addOrReplace(_, _, let size) = change { after += size }
            }
            if let refusal = judge(after: after, quota: quota, what: "these media files", context: context) { return refusal }
            estimate!.bytes = after
            return nil
        }
    }

    private static func judge(after: Int64, quota: Int64, what: String, context: WorkerContext) -> String? {
        guard after > quota else { return nil }
        context.log.warn("upload refused: over the quota", ["user": .string(context.user), "bytes_after": .of(after),
                                                             "quota_bytes": .of(quota)])
        return "Storage quota exceeded: with \(what), your data on this server would take \(DiskUsage.mebibytes(after)), "
            + "but your quota is \(DiskUsage.mebibytes(quota)). Nothing was stored. Remove unused media (Tools > Check Media) "
            + "or ask the server's owner to raise SYNC_QUOTA_MEGS."
    }
}
