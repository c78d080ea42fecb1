import Glibc
import Shared

/// The supervisor's view of one user's worker process.
final class WorkerRecord {
    let user: UserEntry
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

    init(user: UserEntry, index: Int) {
        self.user = user
        self.index = index
    }

    var isRunning: Bool { pid != nil }
}
