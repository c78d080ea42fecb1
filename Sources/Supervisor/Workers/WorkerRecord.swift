import Glibc
import Shared

/// The supervisor's view of one user's worker process.
final class WorkerRecord {
    /// The account; replaced on reload when its password changes.
    var user: UserEntry
    let index: Int
    var pid: pid_t?
    /// The supervisor's end of the channel while the worker runs.
    var channel: ChannelSocket?
    var startedAt: Double = 0
    var stats = WorkerStats()
    /// Connections waiting for the channel to take them (it was full, or the worker is starting).
    var waiting: [ClientConnection] = []
    /// Crash accounting for backoff: consecutive abnormal exits and when respawning is allowed again.
    var consecutiveCrashes = 0
    var backoffUntil: Double = 0
    /// Connections handed over and not yet returned.
    var handedOut = 0
    /// Connections sent to the current process, compared with the count in its idle message.
    var sentConnections: UInt64 = 0
    /// Told to exit (idle, restart); connections for the user wait until it has gone.
    var retiring = false
    /// When a retiring worker is killed if it has not exited.
    var killDeadline: Double = .infinity
    /// Start a new worker as soon as this one has exited (restart, changed password).
    var respawnAfterExit = false
    /// The account was removed by a reload; the record stays only for its epoll token.
    var removed = false
    /// Control clients waiting for a restart to complete.
    var restartWaiters: [ControlConnection] = []
    /// Unix milliseconds of the user's last request, kept across worker restarts.
    var lastRequestMillis: Int64 = 0
    /// Control clients waiting for a maintenance job, by job id.
    var maintenanceWaiters: [UInt64: (ControlConnection, MaintenanceRequest.Command)] = [:]
    /// Requests served by earlier processes of this worker (status shows the total).
    var requestsBefore = 0

    init(user: UserEntry, index: Int) {
        self.user = user
        self.index = index
    }

    var isRunning: Bool { pid != nil }
}
