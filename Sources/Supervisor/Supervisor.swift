import CShim
import Glibc
import Shared

/// The supervisor process: builds its three parts — the front door (client connections), the
/// worker pool (one worker per user) and the control plane (control socket) — and runs the event
/// loop, which only waits on epoll and hands each event to the part whose token it carries.
/// Never touches: request bytes, worker lifecycles or commands itself; the parts do.
final class Supervisor {
    let log: Log
    let poller: Poller
    let signalFD: Int32
    let logins: LoginService
    let pool: WorkerPool
    let frontDoor: FrontDoor
    let control: ControlPlane
    let metrics = ServerMetrics()
    let devices: DeviceActivity
    let metricsEndpoint: MetricsEndpoint?
    let diskUse: UserDiskUse
    private var stopDeadline: Double?
    private var lastDeviceSave = 0.0

    /// How long a stopping server waits for workers to finish their requests.
    static let stopGraceSeconds = 30.0
    /// Descriptors kept free beyond client connections: channels, control clients, logs, epoll.
    static let reservedDescriptors = 64

    init(config: ServerConfig, log: Log, workerBinary: String, envFile: String?) throws {
        self.log = log
        signalFD = cshim_signalfd_for_supervisor()
        guard signalFD >= 0 else { throw SystemError("signalfd") }
        poller = try Poller()
        logins = try LoginService(users: config.users, hashed: config.passwordsHashed,
                                  threads: config.limits.maxConcurrentLogins, maxQueued: config.limits.maxQueuedLogins)
        devices = DeviceActivity(base: config.baseDirectory, log: log)
        diskUse = UserDiskUse(base: config.baseDirectory)
        pool = WorkerPool(config: config, log: log, workerBinary: workerBinary, poller: poller, metrics: metrics, devices: devices)
        let listenFD = try Listener.open(host: config.host, port: config.port)
        frontDoor = FrontDoor(listenFD: listenFD, poller: poller, log: log, config: config,
                              maxConnections: Self.connectionCap(config: config, log: log), logins: logins, pool: pool,
                              metrics: metrics)
        pool.frontDoor = frontDoor
        control = try ControlPlane(config: config, envFile: envFile, log: log, poller: poller, pool: pool, frontDoor: frontDoor)
        if let address = config.metricsAddress {
            let (pool, frontDoor, metrics, diskUse) = (pool, frontDoor, metrics, diskUse)
            metricsEndpoint = try MetricsEndpoint(address: address, poller: poller, metrics: metrics) {
                MetricsGauges.fill(metrics, frontDoor: frontDoor, pool: pool, diskUse: diskUse)
            }
        } else {
            metricsEndpoint = nil
        }
        poller.add(signalFD, events: Poller.readable, token: EventToken.signal)
        poller.add(logins.wakeFD, events: Poller.readable, token: EventToken.login)
        log.info("listening", ["host": .string(config.host), "port": .of(config.port), "users": .of(config.users.count),
                               "base": .string(config.baseDirectory), "max_connections": .of(frontDoor.maxConnections),
                               "metrics": .string(config.metricsAddress?.description ?? "off"), "pid": .of(getpid())])
    }

    /// SYNC_MAX_CONNECTIONS, or (unset) as many as the descriptor limit allows once raised to its
    /// hard limit; a configured value above what the descriptors allow is lowered, with a warning.
    static func connectionCap(config: ServerConfig, log: Log) -> Int {
        let users = config.users.count
        let soft = cshim_raise_nofile(1 << 20)
        let fit = max(16, (soft > 0 ? soft : 1024) - reservedDescriptors - 2 * users)
        let wanted = config.limits.maxConnections
        if wanted == 0 { return min(fit, 65_536) }
        if wanted > fit {
            log.warn("SYNC_MAX_CONNECTIONS is above what the descriptor limit allows; lowered",
                     ["configured": .of(wanted), "used": .of(fit), "nofile": .of(soft)])
            return fit
        }
        return wanted
    }

    /// Runs until SIGTERM/SIGINT and every worker has exited. Returns the exit status.
    func run() -> Int32 {
        var tokens = [UInt64](repeating: 0, count: 256)
        var events = [UInt32](repeating: 0, count: 256)
        var lastSweep = WallClock.monotonic()
        while true {
            let n = poller.wait(timeoutMillis: waitMillis(now: WallClock.monotonic()), into: &tokens, &events)
            for i in 0..<n { dispatch(token: tokens[i], events: events[i]) }
            let now = WallClock.monotonic()
            frontDoor.releaseHeld(now: now)
            if now - lastSweep >= 1 {
                frontDoor.sweep(now: now)
                pool.sweep(now: now)
                control.sweep(now: now)
                metricsEndpoint?.sweep(now: now)
                if now - lastDeviceSave >= 5 {
                    devices.save()
                    lastDeviceSave = now
                }
                lastSweep = now
            }
            if let deadline = stopDeadline {
                if pool.allStopped { break }
                if now > deadline {
                    pool.killAll()
                    stopDeadline = .infinity
                }
            }
        }
        devices.save()
        log.info("stopped")
        return 0
    }

    /// Up to a second, less when a held login reply is due sooner.
    private func waitMillis(now: Double) -> Int32 {
        guard let due = frontDoor.nextDeadline else { return 1000 }
        return Int32(max(0, min(1000, (due - now) * 1000 + 1)))
    }

    private func dispatch(token: UInt64, events: UInt32) {
        switch EventToken.owner(of: token) {
        case .listener: frontDoor.acceptAll()
        case .signals: handleSignals()
        case .logins: frontDoor.finishLogins()
        case .controlListener: control.acceptAll()
        case .channel(let index): pool.channelEvent(index: index, events: events)
        case .controlConnection(let token): control.read(token: token)
        case .metricsListener: metricsEndpoint?.acceptAll()
        case .metricsConnection(let token): metricsEndpoint?.event(token: token, events: events)
        case .client(let id): frontDoor.clientEvent(id: id, events: events)
        }
    }

    private func handleSignals() {
        while true {
            let sig = cshim_signalfd_read(signalFD)
            if sig <= 0 { return }
            switch sig {
            case SIGCHLD: reapChildren()
            case SIGTERM, SIGINT: beginStop(signal: sig)
            case SIGHUP:
                let reply = control.reload()
                if !reply.ok { log.error("reload refused", ["reason": .string(reply.message)]) }
            default: break
            }
        }
    }

    private func reapChildren() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            pool.workerExited(pid: pid, status: status)
        }
    }

    /// Stops accepting, lets workers finish their requests (bounded), then the loop ends.
    private func beginStop(signal: Int32) {
        guard stopDeadline == nil else { return }
        stopDeadline = WallClock.monotonic() + Self.stopGraceSeconds
        log.info("stopping", ["signal": .of(signal)])
        frontDoor.stopAccepting()
        control.close()
        pool.stopAll()
    }
}
