import Glibc
import Shared

/// One running worker process as the pool sees it.
struct WorkerProcess {
    let pid: pid_t
    /// The supervisor's end of the channel.
    let channel: ChannelSocket
    let startedAt: Double
    /// Connections sent to this process, compared with the count in its idle message.
    var sentConnections: UInt64 = 0
    /// The latest counters the process reported.
    var stats = WorkerStats()
}

/// What the pool remembers of a connection while a worker holds it.
struct HandedConnection {
    /// The socket's peer, for the connection when it comes back (no getpeername per request).
    let socketPeer: String
    /// The client's address with SYNC_IP_HEADER applied, for the device list.
    let clientAddress: String
}

/// Why a worker was told to exit, and so what happens once it has gone.
enum DrainReason: Equatable {
    /// Idle for SYNC_WORKER_IDLE_SECS: the next request starts a fresh one.
    case idle
    /// `restart`, a changed password or a restore: a fresh one starts at once.
    case restart
    /// The user was removed by a reload: the record is retired.
    case removed
    /// The server is stopping.
    case serverStopping
}

/// Where one user's worker is in its life. The pool alone changes it. A worker is spawned and sent
/// its hello in one step, so there is no separate "starting" state: connections queue on the
/// channel from the first moment.
enum WorkerLifecycle {
    /// No process. The next request starts one.
    case notRunning
    /// Crashed repeatedly: requests get 503 until then, when it becomes `notRunning` again.
    case backingOff(until: Double)
    /// Running and taking connections.
    case serving(WorkerProcess)
    /// Running, but a restart is waiting for the open sync session to finish (bounded by the
    /// deadline); it still takes connections, so the sync in progress can complete.
    case awaitingSessionEnd(WorkerProcess, deadline: Double)
    /// Told to exit; connections for the user wait until it has gone. Killed at `killDeadline`.
    case draining(WorkerProcess, reason: DrainReason, killDeadline: Double)
    /// Removed from the configuration and its process gone; a later reload may bring it back.
    case retired

    var process: WorkerProcess? {
        switch self {
        case .serving(let p), .awaitingSessionEnd(let p, _), .draining(let p, _, _): return p
        case .notRunning, .backingOff, .retired: return nil
        }
    }

    /// Name shown by `status`.
    var label: String {
        switch self {
        case .notRunning: return "stopped"
        case .backingOff: return "backoff"
        case .serving: return "running"
        case .awaitingSessionEnd: return "restart pending"
        case .draining: return "stopping"
        case .retired: return "retired"
        }
    }
}

/// Everything the supervisor keeps about one configured user's worker. One record per user name
/// for the life of the server: a user removed and added back gets the same record, so there is
/// never more than one worker per user.
final class WorkerRecord {
    /// The account; replaced on reload when its password changes.
    var user: UserEntry
    /// Stable index, used for the channel's epoll token.
    let index: Int
    var lifecycle: WorkerLifecycle = .notRunning
    /// Removed from the configuration: requests are no longer routed here.
    var removed = false
    /// Connections waiting for a worker to take them (channel full, worker starting or draining).
    var waiting: [ClientConnection] = []
    /// Connections handed to the current process and not yet returned or closed by it.
    var inWorker: [UInt64: HandedConnection] = [:]
    /// Consecutive quick crashes, for backoff.
    var consecutiveCrashes = 0
    /// Control clients waiting for a restart to complete.
    var restartWaiters: [ControlConnection] = []
    /// Control clients waiting for a maintenance job, by job id.
    var maintenanceWaiters: [UInt64: (ControlConnection, MaintenanceRequest.Command)] = [:]
    /// Unix milliseconds of the user's last request, kept across worker restarts.
    var lastRequestMillis: Int64 = 0
    /// Requests served by earlier processes of this worker (status shows the total).
    var requestsBefore = 0

    init(user: UserEntry, index: Int) {
        self.user = user
        self.index = index
    }

    var process: WorkerProcess? { lifecycle.process }
    var isRunning: Bool { process != nil }

    /// Updates the running process's bookkeeping in place, whatever state it is in.
    func updateProcess(_ change: (inout WorkerProcess) -> Void) {
        switch lifecycle {
        case .serving(var p):
            change(&p)
            lifecycle = .serving(p)
        case .awaitingSessionEnd(var p, let deadline):
            change(&p)
            lifecycle = .awaitingSessionEnd(p, deadline: deadline)
        case .draining(var p, let reason, let deadline):
            change(&p)
            lifecycle = .draining(p, reason: reason, killDeadline: deadline)
        case .notRunning, .backingOff, .retired:
            break
        }
    }
}
