import CShim
import FoundationEssentials
import Glibc
import Shared

/// The worker pool: one record per configured user, each with its lifecycle (`WorkerRecord`).
/// Owns spawning, hand-off of connections to workers and their return, the idle handshake,
/// restarts, crash backoff, draining and the users a reload adds or removes.
/// Never touches: client sockets' bytes (the front door reads and answers them), user data (only
/// workers open it), the control socket.
final class WorkerPool {
    let poller: Poller
    let log: Log
    let workerBinary: String
    /// What workers are started with: this process's environment without account secrets.
    let workerEnvironment = WorkerSpawner.workerEnvironment(ProcessInfo.processInfo.environment)
    var config: ServerConfig
    private(set) var records: [String: WorkerRecord] = [:]
    private(set) var byIndex: [WorkerRecord] = []
    var stopping = false
    /// Where connections go back to when a worker returns them or cannot take them.
    weak var frontDoor: FrontDoor?
    let metrics: ServerMetrics
    let devices: DeviceActivity

    /// Crashes within this many seconds of a start count towards backoff.
    static let quickCrashSeconds = 10
    static let maxBackoffSeconds = 60.0
    /// How long a told-to-exit worker may take before it is killed.
    static let drainSeconds = 30.0
    /// How long `restart` waits for an open sync session to finish before it stops the worker anyway.
    static let sessionWaitSeconds = 120.0

    init(config: ServerConfig, log: Log, workerBinary: String, poller: Poller, metrics: ServerMetrics, devices: DeviceActivity) {
        self.config = config
        self.metrics = metrics
        self.devices = devices
        self.log = log
        self.workerBinary = workerBinary
        self.poller = poller
        for user in config.users { addRecord(user) }
    }

    @discardableResult
    func addRecord(_ user: UserEntry) -> WorkerRecord {
        let record = WorkerRecord(user: user, index: byIndex.count)
        records[user.name] = record
        byIndex.append(record)
        return record
    }

    func record(named name: String) -> WorkerRecord? {
        guard let record = records[name], !record.removed else { return nil }
        return record
    }

    func record(at index: Int) -> WorkerRecord? { index < byIndex.count ? byIndex[index] : nil }

    /// Connections the pool holds (waiting) or its workers hold: they count toward the cap.
    var connectionsOutside: Int { waitingConnections + connectionsInWorkers }
    var waitingConnections: Int { byIndex.reduce(0) { $0 + $1.waiting.count } }
    var connectionsInWorkers: Int { byIndex.reduce(0) { $0 + $1.inWorker.count } }

    var allStopped: Bool { byIndex.allSatisfy { !$0.isRunning } }

    func channelToken(_ record: WorkerRecord) -> UInt64 { EventToken.channelBase + UInt64(record.index) }

    // MARK: hand-off

    /// Takes a connection whose request belongs to `user`. The front door has stopped watching it.
    func handOff(_ conn: ClientConnection, user: String) {
        guard let record = record(named: user) else {
            // The router and the pool disagree: a bug, but never a loop or a hang.
            log.error("no worker record for a routed user", ["user": .string(user)])
            frontDoor?.takeBack(conn, refusing: 500, reason: "internal error: this account has no worker")
            return
        }
        switch record.lifecycle {
        case .backingOff(let until):
            let now = WallClock.monotonic()
            if now < until {
                frontDoor?.takeBack(conn, refusing: 503,
                                    reason: "this account's worker is restarting after repeated crashes; try again in \(Int(until - now) + 1) s")
                return
            }
            record.lifecycle = .notRunning
        case .retired:
            record.lifecycle = .notRunning
        case .notRunning, .serving, .awaitingSessionEnd, .draining:
            break
        }
        if case .notRunning = record.lifecycle {
            do { try spawn(record) } catch {
                log.error("worker spawn failed", ["user": .string(record.user.name), "error": .string("\(error)")])
                frontDoor?.takeBack(conn, refusing: 500, reason: "could not start this account's worker")
                return
            }
        }
        record.waiting.append(conn)
        flushWaiting(record)
    }

    /// Sends waiting connections down the channel while the worker takes connections.
    func flushWaiting(_ record: WorkerRecord) {
        guard let process = record.process else { return }
        if case .draining = record.lifecycle { return }
        while let conn = record.waiting.first {
            let result: ChannelSocket.SendResult
            do {
                result = try process.channel.send(.connection(id: conn.id, prefix: conn.buffer), passing: conn.fd)
            } catch {
                // Too large to pass (the front door bounds what it reads, so this is a bug): answer it.
                log.error("handoff failed", ["user": .string(record.user.name), "error": .string("\(error)")])
                record.waiting.removeFirst()
                frontDoor?.takeBack(conn, refusing: 500, reason: "internal error: could not pass the request to this account's worker")
                continue
            }
            switch result {
            case .sent:
                record.waiting.removeFirst()
                record.inWorker[conn.id] = HandedConnection(socketPeer: conn.peer, clientAddress: conn.requestPeer ?? conn.peer)
                record.updateProcess { $0.sentConnections += 1 }
                close(conn.fd)
            case .wouldBlock:
                poller.modify(process.channel.fd, events: Poller.readable | Poller.writable, token: channelToken(record))
                return
            case .closed:
                // The worker is gone; reaping it re-routes the waiting connections.
                return
            }
        }
        poller.modify(process.channel.fd, events: Poller.readable, token: channelToken(record))
    }

    func spawn(_ record: WorkerRecord) throws {
        let (mine, theirs) = try ChannelSocket.pair()
        let pid: pid_t
        do {
            pid = try WorkerSpawner.spawn(binary: workerBinary, user: record.user.name, channel: theirs,
                                          environment: workerEnvironment)
        } catch {
            close(mine.fd)
            close(theirs.fd)
            throw error
        }
        close(theirs.fd)
        _ = cshim_set_nonblocking(mine.fd, 1)
        record.lifecycle = .serving(WorkerProcess(pid: pid, channel: mine, startedAt: WallClock.monotonic()))
        poller.add(mine.fd, events: Poller.readable, token: channelToken(record))
        let hello = WorkerHello(user: record.user.name, folder: config.folder(of: record.user.name), hostKey: record.user.hostKey,
                                maxPayloadMegs: config.maxPayloadMegs, limits: config.limits, logFormat: config.logFormat,
                                addressHeader: config.clientIPSource.headerName)
        // A fresh socketpair's buffer always takes the hello.
        send(.hello(hello), to: record, what: "hello")
        log.info("worker spawned", ["user": .string(record.user.name), "pid": .of(pid)])
        metrics.worker(record.user.name, .spawn)
    }

    /// Sends a message without a descriptor; a failure is logged and reported to the caller.
    @discardableResult
    func send(_ message: ChannelMessage, to record: WorkerRecord, what: String) -> Bool {
        guard let process = record.process else { return false }
        do {
            if try process.channel.send(message) == .sent { return true }
            log.warn("channel full or closed; message not sent", ["user": .string(record.user.name), "message": .string(what)])
        } catch {
            log.error("channel send failed", ["user": .string(record.user.name), "message": .string(what), "error": .string("\(error)")])
        }
        return false
    }

    // MARK: status

    func statusRows(now: Double) -> [UserStatus] {
        byIndex.filter { !$0.removed }.map { record -> UserStatus in
            let process = record.process
            var backoff: Int?
            if case .backingOff(let until) = record.lifecycle, now < until { backoff = Int((until - now).rounded(.up)) }
            let label = backoff == nil && !record.isRunning ? WorkerLifecycle.notRunning.label : record.lifecycle.label
            var row = UserStatus(
                user: record.user.name, state: label, workerPid: process?.pid,
                workerUptimeSeconds: process.map { Int(now - $0.startedAt) },
                activeSyncSession: process?.stats.activeSyncSession ?? false,
                lastRequestMillis: record.lastRequestMillis > 0 ? record.lastRequestMillis : nil,
                requestsServed: record.requestsBefore + (process?.stats.requestsServed ?? 0),
                consecutiveCrashes: record.consecutiveCrashes,
                backoffSeconds: backoff,
                isolation: process?.stats.isolation)
            row.devices = devices.devices[record.user.name]
            return row
        }
    }
}
