import Shared
import Storage
import Synchronization

/// Everything a request handler may use: who this worker serves, its files, its limits, its log.
final class WorkerContext: Sendable {
    let user: String
    let hostKey: String
    let maxPayloadMegs: Int
    let limits: ServerConfig.Limits
    /// SYNC_IP_HEADER's header, if set (see `FollowUpRequest`).
    let addressHeader: String?
    let log: Log
    let store: UserStore
    let sessions: SyncSessions
    let media: MediaService
    let counters = Mutex(WorkerStats())
    /// What the quota judges media uploads by (`Quota.Estimate`).
    let diskUse = Mutex<Quota.Estimate?>(nil)
    let heap: HeapRelease

    init(hello: WorkerHello, log: Log) {
        user = hello.user
        hostKey = hello.hostKey
        maxPayloadMegs = hello.maxPayloadMegs
        limits = hello.limits
        addressHeader = hello.addressHeader
        self.log = log
        store = UserStore(folder: hello.folder)
        sessions = SyncSessions()
        media = MediaService(folder: hello.folder)
        heap = HeapRelease { [store] in
            store.releaseMemory()
            HeapRelease.returnFreeHeap()
        }
    }

    /// 3 × MAX_SYNC_PAYLOAD_MEGS MiB, the official limit on a decompressed body.
    var maxDecompressedBytes: Int { maxPayloadMegs * 3 * 1024 * 1024 }

    /// The media usn reported in `meta`; must agree with `msync/begin`.
    func mediaUsn() throws -> Int64 { try media.currentUsn() }
}

