import Shared
import Storage
import Synchronization

/// The user's normal-sync session (PROTOCOL §6.1, §6.11): at most one, identified by the skey,
/// with its writes in one SQLite transaction held open on the user's collection connection
/// between requests (which may arrive on different connections and threads).
///
/// Locking: session state is only changed while holding the user's collection lock
/// (`UserStore.withCollection`), and always in the order collection lock → `state` mutex.
final class SyncSessions: Sendable {
    struct Session: Sendable {
        var skey: String
        /// The collection's usn at `start`: stamped on everything stored during the session.
        var serverUsn: Int64
        /// `minUsn` of `start`: the client's usn at its last sync.
        var clientUsn: Int64
        var clientIsNewer: Bool
        /// Snapshot taken at the first `chunk`.
        var chunkIds: ChunkableIds?
        /// The next server chunk, built while the client stored the last one (`ServerChunks`).
        var preparedChunk: ServerChunks.Built?
        /// Set once the client sent its last chunk.
        var clientChunksDone = false
        /// Monotonic seconds of the last request of this session.
        var lastActivity: Double
        /// Set when the transaction was rolled back by a failed sanity check (as with the
        /// reference) or a client chunk that could not be stored after it was answered
        /// (`ClientChunks`): the next step of this session fails (400) with this reason.
        var rollbackReason: String?
        /// The rollback came from a server fault: the next step answers 500, not 400.
        var rollbackIsFault = false
    }

    /// An abandoned session is rolled back after this much inactivity (checked on the next request).
    static let inactivitySeconds = 600.0

    private let state = Mutex<Session?>(nil)
    /// Attached by the first `start`, so `abortAny` can reach the collection to roll back.
    private let attached = Mutex<(store: UserStore, log: Log)?>(nil)

    var hasActiveSession: Bool { state.withLock { $0 != nil } }

    func attach(store: UserStore, log: Log) {
        attached.withLock { if $0 == nil { $0 = (store, log) } }
    }

    /// Drops the active session, whatever its skey, rolling its transaction back. Used by `meta`,
    /// `abort`, `upload`, `download`, a newer `start` and worker shutdown.
    func abortAny(reason: String) {
        guard hasActiveSession, let (store, log) = attached.withLock({ $0 }) else { return }
        do {
            try store.withCollection { collection in
                dropLocked(collection, reason: reason, log: log)
            }
        } catch {
            // The collection could not be opened: the transaction died with its connection.
            state.withLock { $0 = nil }
            log.warn("sync session dropped", ["reason": .string(reason), "error": .string("\(error)")])
        }
    }

    // MARK: called with the collection lock held

    /// Rolls back and forgets the current session, if any.
    func dropLocked(_ collection: Collection, reason: String, log: Log?) {
        let dropped = state.withLock { s -> Session? in
            let old = s
            s = nil
            return old
        }
        guard let dropped else { return }
        if collection.db.inTransaction { try? collection.db.rollback() }
        log?.info("sync session rolled back", ["skey": .string(dropped.skey), "reason": .string(reason)])
    }

    func beginLocked(_ session: Session) {
        state.withLock { $0 = session }
    }

    /// The session for `skey`, or the failure the client must see (400 empty skey, 409 none/other).
    /// Also expires a session idle for too long, and one whose transaction is gone.
    func requireLocked(_ collection: Collection, skey: String, now: Double, log: Log) throws -> Session {
        guard !skey.isEmpty else { throw HTTPError(400, "missing sync session key (s)") }
        if let current = state.withLock({ $0 }) {
            if now - current.lastActivity > Self.inactivitySeconds {
                dropLocked(collection, reason: "inactivity timeout", log: log)
            } else if current.rollbackReason == nil && !collection.db.inTransaction {
                dropLocked(collection, reason: "transaction lost", log: log)
            }
        }
        guard let session = state.withLock({ $0 }) else {
            throw HTTPError(409, "no sync session is open (it was aborted, finished or replaced); start again")
        }
        guard session.skey == skey else {
            throw HTTPError(409, "sync session key does not match the open session")
        }
        return session
    }

    func updateLocked(_ body: (inout Session) -> Void) {
        state.withLock { s in
            if s != nil { body(&s!) }
        }
    }

    /// Forgets the session after a commit (nothing to roll back).
    func endLocked() {
        state.withLock { $0 = nil }
    }
}
