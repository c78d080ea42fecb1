import CShim
import Glibc
import Shared

/// The front door: the listening socket and every client connection while this process holds it —
/// accepting, the connection cap, reading request heads, answering what it serves itself (health,
/// login, refusals) and the timers of idle and slow connections. A routed request's connection goes
/// to the worker pool; it comes back here after each response.
/// Never touches: worker processes or their channels (the pool does), user data, the control socket.
final class FrontDoor {
    let poller: Poller
    let log: Log
    var limits: ServerConfig.Limits
    var router: RequestRouter
    let logins: LoginService
    var throttle: LoginThrottle
    let peerSource: PeerAddressSource
    let pool: WorkerPool
    let metrics: ServerMetrics
    let listenFD: Int32
    /// Connections open at once, wherever they are (here, waiting in the pool, or in a worker).
    let maxConnections: Int
    private(set) var connections: [UInt64: ClientConnection] = [:]
    private var silentQueue = SilentQueue()
    private var nextConnectionID: UInt64 = 1
    private(set) var accepting = true
    /// Accepting is paused (descriptors exhausted) until the next sweep.
    private var acceptPaused = false
    /// Connections closed by the timers or to make room, logged as one line per sweep.
    private var closedQuietly: [QuietClose: Int] = [:]

    /// Why a connection was closed without an answer (log text; metric label).
    enum QuietClose: String {
        case tableFull = "table_full"
        case descriptorLimit = "descriptor_limit"
        case headTimeout = "head_timeout"
        case idleTimeout = "idle_timeout"

        var text: String {
            switch self {
            case .tableFull: return "connection table full"
            case .descriptorLimit: return "descriptor limit"
            case .headTimeout: return "no request within SYNC_HEAD_TIMEOUT_SECS"
            case .idleTimeout: return "idle (SYNC_IDLE_CONNECTION_SECS)"
            }
        }
    }
    /// Login steps held back by throttling: a check waiting for its address's block to end, an
    /// answer delayed for its name, or a blocked address's refusal (tarpit).
    var held: [Held] = []

    struct Held {
        enum Action {
            case check(LoginQueue.Job)
            case reply([UInt8], close: Bool)
            case refusal([UInt8])
        }
        let due: Double
        let connectionID: UInt64
        let action: Action
    }

    init(listenFD: Int32, poller: Poller, log: Log, config: ServerConfig, maxConnections: Int,
         logins: LoginService, pool: WorkerPool, metrics: ServerMetrics) {
        self.listenFD = listenFD
        self.metrics = metrics
        self.poller = poller
        self.log = log
        self.limits = config.limits
        self.router = RequestRouter(users: config.users)
        self.logins = logins
        self.throttle = LoginThrottle()
        self.peerSource = PeerAddressSource(config.clientIPSource)
        self.pool = pool
        self.maxConnections = maxConnections
        poller.add(listenFD, events: Poller.readable, token: EventToken.listen)
    }

    /// Connections that count toward the cap.
    var openConnections: Int { connections.count + pool.connectionsOutside }

    // MARK: accepting

    func acceptAll() {
        while accepting {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { cshim_accept_peer(listenFD, $0, &length) }
            }
            if fd < 0 {
                let err = cshim_errno()
                if err == EMFILE || err == ENFILE {
                    // Out of descriptors despite the cap (other processes of this uid?): make room,
                    // or stop listening for a second — level-triggered readiness would spin the loop.
                    if evictSilentLongest(reason: .descriptorLimit) { continue }
                    pauseAccepting()
                    return
                }
                if err != EAGAIN && err != EWOULDBLOCK && err != ECONNABORTED && err != EINTR {
                    log.warn("accept failed", ["error": .string(String(cString: strerror(err)))])
                }
                if err == ECONNABORTED || err == EINTR { continue }
                return
            }
            if openConnections >= maxConnections && !evictSilentLongest(reason: .tableFull) {
                // Every connection is busy with a request: say so briefly and close.
                let reply = HTTPResponse.text(status: 503, "server busy: too many connections (SYNC_MAX_CONNECTIONS)", close: true)
                _ = reply.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(fd)
                log.warn("connection refused", ["reason": "SYNC_MAX_CONNECTIONS", "open": .of(openConnections)])
                metrics.request(method: "other", status: 503, seconds: 0, bytesIn: 0, bytesOut: reply.count)
                continue
            }
            let peer = withUnsafePointer(to: &address) { PeerAddress.text($0) }
            register(fd: fd, peer: peer, buffer: [], fresh: true)
        }
    }

    private func pauseAccepting() {
        guard !acceptPaused else { return }
        acceptPaused = true
        poller.modify(listenFD, events: 0, token: EventToken.listen)
        log.warn("out of descriptors: not accepting for a second", ["open": .of(openConnections)])
    }

    /// Closes the connection that has been silent longest (never sent a byte, or idle between
    /// requests), as nginx reuses idle keep-alive connections. False if there is none.
    private func evictSilentLongest(reason: QuietClose) -> Bool {
        while let (id, since) = silentQueue.popOldest() {
            guard let conn = connections[id], conn.isSilent, conn.lastActivity == since else { continue }
            closedQuietly[reason, default: 0] += 1
            drop(conn)
            return true
        }
        return false
    }

    /// A connection a worker handed back after a response (with bytes it read past it).
    func adopt(fd: Int32, buffer: [UInt8], peer: String) {
        // The worker used it blocking, and the flag belongs to the shared open file.
        _ = cshim_set_nonblocking(fd, 1)
        register(fd: fd, peer: peer, buffer: buffer, fresh: false)
    }

    private func register(fd: Int32, peer: String, buffer: [UInt8], fresh: Bool) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let id = nextConnectionID
        nextConnectionID += 1
        let conn = ClientConnection(id: id, fd: fd, peer: peer, fresh: fresh, buffer: buffer, now: WallClock.monotonic())
        connections[id] = conn
        poller.add(fd, events: conn.interest, token: id)
        if buffer.isEmpty {
            silentQueue.push(id: id, since: conn.lastActivity)
        } else {
            process(conn)
            updateInterest(conn)
        }
    }

    /// A connection the pool could not give to a worker: back under this loop, answered, closed.
    func takeBack(_ conn: ClientConnection, refusing status: Int, reason: String) {
        connections[conn.id] = conn
        conn.interest = 0
        poller.add(conn.fd, events: 0, token: conn.id)
        refuse(conn, status: status, reason: reason)
    }

    /// Gives a routed connection to the pool: from here on its bytes belong to a worker.
    func handOff(_ conn: ClientConnection, user: String) {
        poller.remove(conn.fd)
        connections[conn.id] = nil
        pool.handOff(conn, user: user)
    }

    // MARK: socket events

    func clientEvent(id: UInt64, events: UInt32) {
        guard let conn = connections[id] else { return }
        if events & Poller.writable != 0, !conn.outbound.isEmpty { writeOut(conn) }
        if connections[id] != nil, events & (Poller.readable | Poller.hangup | Poller.error | Poller.peerClosed) != 0 {
            readIn(conn, events: events)
        }
        updateInterest(conn)
    }

    private func readIn(_ conn: ClientConnection, events: UInt32) {
        switch conn.state {
        case .verifying, .writing:
            // Not reading in these states (interest is off); only a dead socket reports here.
            if events & (Poller.hangup | Poller.error) != 0 { drop(conn) }
            return
        case .readingHead, .readingLoginBody, .readingLegacyForm:
            break
        }
        var cap = limits.maxHeadBytes + 64 * 1024
        if case .readingLegacyForm = conn.state { cap = Self.legacyFormBound }
        loop: while conn.buffer.count < cap {
            switch conn.readAvailable(cap: cap) {
            case .data: continue
            case .wouldBlock, .eof: break loop
            case .error: drop(conn); return
            }
        }
        process(conn)
    }

    /// Keeps epoll interest in step with the state: level-triggered readiness must be off whenever
    /// the connection is not being read, or a half-closed or chatty peer would spin the loop.
    func updateInterest(_ conn: ClientConnection) {
        guard connections[conn.id] != nil else { return }
        let wanted: UInt32
        switch conn.state {
        case .readingHead, .readingLoginBody, .readingLegacyForm: wanted = conn.sawEOF ? 0 : Poller.readable | Poller.peerClosed
        case .verifying: wanted = 0
        case .writing: wanted = conn.outbound.isEmpty ? 0 : Poller.writable
        }
        if wanted != conn.interest {
            poller.modify(conn.fd, events: wanted, token: conn.id)
            conn.interest = wanted
        }
    }

    func respond(_ conn: ClientConnection, _ bytes: [UInt8], close: Bool) {
        conn.outbound = bytes
        conn.outboundSent = 0
        conn.closeAfterWrite = close
        conn.state = .writing
        writeOut(conn)
    }

    private func writeOut(_ conn: ClientConnection) {
        switch conn.flush() {
        case .pending:
            updateInterest(conn)
        case .error:
            drop(conn)
        case .done:
            if conn.closeAfterWrite {
                shutdown(conn.fd, Int32(SHUT_WR))
                drop(conn)
                return
            }
            conn.state = .readingHead
            if conn.buffer.isEmpty { silentQueue.push(id: conn.id, since: conn.lastActivity) }
            process(conn)
            updateInterest(conn)
        }
    }

    func drop(_ conn: ClientConnection) {
        poller.remove(conn.fd)
        close(conn.fd)
        connections[conn.id] = nil
    }

    // MARK: timers

    func sweep(now: Double) {
        if acceptPaused && accepting {
            acceptPaused = false
            poller.modify(listenFD, events: Poller.readable, token: EventToken.listen)
        }
        for conn in Array(connections.values) {
            switch conn.state {
            case .readingHead:
                if let started = conn.headStarted {
                    guard now - started > Double(limits.headTimeoutSeconds) else { continue }
                    if conn.buffer.isEmpty {
                        // Never sent a byte: nobody to tell.
                        closedQuietly[.headTimeout, default: 0] += 1
                        drop(conn)
                    } else {
                        refuse(conn, status: 408, reason: "request head not received within \(limits.headTimeoutSeconds) s")
                    }
                } else if now - conn.lastActivity > Double(limits.idleConnectionSeconds) || !accepting {
                    closedQuietly[.idleTimeout, default: 0] += 1
                    drop(conn)
                }
            case .readingLoginBody(let head, _, _, _), .readingLegacyForm(let head, _, _, _, _):
                if now - conn.lastActivity > Double(limits.bodyStallSeconds) {
                    answer(conn, head: head, status: 408, reason: "request body stalled", close: true)
                }
            case .writing:
                if now - conn.lastActivity > Double(limits.bodyStallSeconds) { drop(conn) }
            case .verifying:
                break
            }
        }
        for (reason, count) in closedQuietly {
            log.info("connections closed", ["reason": .string(reason.text), "count": .of(count), "open": .of(openConnections)])
            metrics.connectionsClosed(reason.rawValue, count)
        }
        closedQuietly = [:]
        silentQueue.compact { id, since in
            guard let conn = connections[id] else { return false }
            return conn.isSilent && conn.lastActivity == since
        }
        throttle.forgetOld(now: now)
    }

    /// The earliest moment a timer here needs the loop (held login steps), if any.
    var nextDeadline: Double? { held.map(\.due).min() }

    /// Stops accepting (server stop) and closes connections waiting for a request.
    func stopAccepting() {
        accepting = false
        poller.remove(listenFD)
        close(listenFD)
        for conn in Array(connections.values) where conn.isSilent { drop(conn) }
    }
}

/// Connections in the order they fell silent, for closing the longest-silent one first. Entries
/// are checked when taken (the connection may have spoken or closed since), so pushing is O(1).
struct SilentQueue {
    private var entries: [(id: UInt64, since: Double)] = []
    private var head = 0

    mutating func push(id: UInt64, since: Double) { entries.append((id, since)) }

    mutating func popOldest() -> (UInt64, Double)? {
        guard head < entries.count else { return nil }
        defer { head += 1 }
        return entries[head]
    }

    /// Drops consumed entries, and stale ones once they outnumber the live ones, so the queue stays
    /// proportional to the connection table.
    mutating func compact(isCurrent: (UInt64, Double) -> Bool) {
        if head > 1024 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
        if entries.count - head > 4096 {
            entries = entries[head...].filter { isCurrent($0.id, $0.since) }
            head = 0
        }
    }
}
