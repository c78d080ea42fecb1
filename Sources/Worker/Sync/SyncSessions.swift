import Shared
import Synchronization

/// The user's normal-sync session state. Normal sync is not served yet: this only records that no
/// session is open, so `meta`, `upload` and `download` can already follow the rule that they end one.
final class SyncSessions: Sendable {
    private let active = Mutex<String?>(nil)

    var hasActiveSession: Bool { active.withLock { $0 != nil } }

    func abortAny(reason: String) {
        active.withLock { $0 = nil }
    }
}
