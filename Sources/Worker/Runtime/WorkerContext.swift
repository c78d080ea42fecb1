import Shared
import Storage
import Synchronization

/// Everything a request handler may use: who this worker serves, its files, its limits, its log.
final class WorkerContext: Sendable {
    let user: String
    let hostKey: String
    let maxPayloadMegs: Int
    let limits: ServerConfig.Limits
    let log: Log
    let store: UserStore
    let sessions = SyncSessions()
    let counters = Mutex(WorkerStats())

    init(hello: WorkerHello, log: Log) {
        user = hello.user
        hostKey = hello.hostKey
        maxPayloadMegs = hello.maxPayloadMegs
        limits = hello.limits
        self.log = log
        store = UserStore(folder: hello.folder)
    }

    /// 3 × MAX_SYNC_PAYLOAD_MEGS MiB, the official limit on a decompressed body.
    var maxDecompressedBytes: Int { maxPayloadMegs * 3 * 1024 * 1024 }

    /// The media usn reported in `meta` (media sync is not served yet, so always 0).
    func mediaUsn() -> Int64 { 0 }
}

/// The user's normal-sync session state. Normal sync is not served yet: this only records that no
/// session is open, so `meta`, `upload` and `download` can already follow the rule that they end one.
final class SyncSessions: Sendable {
    private let active = Mutex<String?>(nil)

    var hasActiveSession: Bool { active.withLock { $0 != nil } }

    func abortAny(reason: String) {
        active.withLock { $0 = nil }
    }
}
