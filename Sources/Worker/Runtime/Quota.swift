import Shared
import Storage

/// The per-user storage quota (SYNC_QUOTA_MEGS, SYNC_QUOTA_MEGS_<user>): the one place that decides
/// whether an upload may be stored. Disk use is what the user's folder holds now (`DiskUsage`);
/// an upload is judged by what the folder would hold after it.
enum Quota {
    /// nil when the upload fits (or no quota applies); otherwise the sentence the client shows.
    /// Full upload, already written to its temporary file inside the user's folder (so counted):
    /// it will replace the current collection and its -wal.
    static func refuseCollection(context: WorkerContext) -> String? {
        guard let quota = context.limits.quotaBytes(for: context.user) else { return nil }
        let store = context.store
        let current = DiskUsage.bytes(under: store.folder)
        let replaced = DiskUsage.fileBytes(store.collectionPath) + DiskUsage.fileBytes(store.collectionPath + "-wal")
        return judge(after: current - replaced, quota: quota, what: "this collection upload", context: context)
    }

    /// Media upload: added or replaced files count with their new size, minus what they replace.
    static func refuseMedia(_ changes: [MediaDatabase.Change], context: WorkerContext) -> String? {
        guard let quota = context.limits.quotaBytes(for: context.user) else { return nil }
        let folder = context.media.mediaFolder
        // Staged copies of the new files are inside the folder already: count them once, by size.
        var after = DiskUsage.bytes(under: context.store.folder) - DiskUsage.bytes(under: context.media.stagingFolder)
        for change in changes {
            after -= DiskUsage.fileBytes(folder + "/" + change.name)
            if case .addOrReplace(_, _, let size) = change { after += size }
        }
        return judge(after: after, quota: quota, what: "these media files", context: context)
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
