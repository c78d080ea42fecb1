import CShim
import FoundationEssentials
import Glibc
import Shared

/// The front door: one thread running an epoll loop over the listening socket, the client
/// connections it currently owns, the worker channels, the signal descriptor and the login
/// verifiers' wake-up descriptor. It never opens a collection or media file.
final class Supervisor {
    var config: ServerConfig
    /// The file `reload` and SIGHUP re-read, if the server was started with --env-file.
    let envFile: String?
    let startedAt = WallClock.monotonic()
    let log: Log
    let workerBinary: String
    /// What workers are started with: this process's environment without account secrets.
    let workerEnvironment = WorkerSpawner.workerEnvironment(ProcessInfo.processInfo.environment)
    let poller: Poller
    let listenFD: Int32
    let signalFD: Int32
    let logins: LoginService
    var router: RequestRouter
    let controlFD: Int32
    var controlConnections: [UInt64: ControlConnection] = [:]
    var nextControlToken: UInt64 = 0
    var nextMaintenanceID: UInt64 = 1
    var connections: [UInt64: ClientConnection] = [:]
    var workers: [String: WorkerRecord] = [:]
    var workersByIndex: [WorkerRecord] = []
    var nextConnectionID: UInt64 = 1
    var stopping = false
    var stopDeadline: Double = 0

    // epoll tokens: connections use their id (< 2^40); fixed descriptors and channels use the top bits.
    static let listenToken: UInt64 = 1 << 62
    static let signalToken: UInt64 = (1 << 62) + 1
    static let loginToken: UInt64 = (1 << 62) + 2
    static let controlToken: UInt64 = (1 << 62) + 3
    static let controlConnectionBase: UInt64 = 1 << 60
    static let channelBase: UInt64 = 1 << 61

    /// Login bodies are tiny JSON; anything larger is refused.
    static let maxLoginBodyBytes = 16 * 1024

    init(config: ServerConfig, log: Log, workerBinary: String, envFile: String?) throws {
        self.config = config
        self.envFile = envFile
        self.log = log
        self.workerBinary = workerBinary
        signalFD = cshim_signalfd_for_supervisor()
        guard signalFD >= 0 else { throw SystemError("signalfd") }
        poller = try Poller()
        router = RequestRouter(users: config.users)
        logins = try LoginService(users: config.users, hashed: config.passwordsHashed,
                                  threads: config.limits.maxConcurrentLogins, maxQueued: config.limits.maxQueuedLogins)
        controlFD = try ControlEndpoint.listen(path: ControlSocket.path(base: config.baseDirectory))
        listenFD = try Listener.open(host: config.host, port: config.port)
        for (i, user) in config.users.enumerated() {
            let record = WorkerRecord(user: user, index: i)
            workers[user.name] = record
            workersByIndex.append(record)
        }
        poller.add(listenFD, events: Poller.readable, token: Self.listenToken)
        poller.add(signalFD, events: Poller.readable, token: Self.signalToken)
        poller.add(logins.wakeFD, events: Poller.readable, token: Self.loginToken)
        poller.add(controlFD, events: Poller.readable, token: Self.controlToken)
    }

    /// Runs until SIGTERM/SIGINT and every worker has exited. Returns the exit status.
    func run() -> Int32 {
        log.info("listening", ["host": .string(config.host), "port": .of(config.port), "users": .of(config.users.count),
                               "base": .string(config.baseDirectory), "pid": .of(getpid())])
        var tokens = [UInt64](repeating: 0, count: 128)
        var events = [UInt32](repeating: 0, count: 128)
        var lastSweep = WallClock.monotonic()
        while true {
            let n = poller.wait(timeoutMillis: 1000, into: &tokens, &events)
            for i in 0..<n { dispatch(token: tokens[i], events: events[i]) }
            let now = WallClock.monotonic()
            if now - lastSweep >= 1 {
                sweep(now: now)
                lastSweep = now
            }
            if stopping {
                if workersByIndex.allSatisfy({ !$0.isRunning }) { break }
                if now > stopDeadline { killRemainingWorkers() }
            }
        }
        log.info("stopped")
        return 0
    }

    // MARK: events

    func dispatch(token: UInt64, events: UInt32) {
        switch token {
        case Self.listenToken: acceptAll()
        case Self.signalToken: handleSignals()
        case Self.loginToken: finishLogins()
        case Self.controlToken: acceptControl()
        case Self.channelBase...:
            let index = Int(token - Self.channelBase)
            if index < workersByIndex.count { channelEvent(workersByIndex[index], events: events) }
        case Self.controlConnectionBase...:
            readControl(token: token)
        default:
            guard let conn = connections[token] else { return }
            if events & Poller.writable != 0, !conn.outbound.isEmpty { writeOut(conn) }
            if connections[token] != nil, events & (Poller.readable | Poller.hangup | Poller.error | Poller.peerClosed) != 0 {
                readIn(conn, events: events)
            }
            updateInterest(conn)
        }
    }

    func acceptAll() {
        while true {
            let fd = cshim_accept(listenFD)
            if fd < 0 {
                let err = cshim_errno()
                if err != EAGAIN && err != EWOULDBLOCK {
                    log.warn("accept failed", ["error": .string(String(cString: strerror(err)))])
                }
                return
            }
            if connections.count >= config.limits.maxConnections || stopping {
                // Over the connection cap: say so briefly and close, rather than queue without bound.
                let reply = HTTPResponse.text(status: 503, "server busy: too many connections (SYNC_MAX_CONNECTIONS)", close: true)
                _ = reply.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(fd)
                log.warn("connection refused", ["reason": "SYNC_MAX_CONNECTIONS", "open": .of(connections.count)])
                continue
            }
            adopt(fd: fd, buffer: [])
        }
    }

    func adopt(fd: Int32, buffer: [UInt8]) {
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let id = nextConnectionID
        nextConnectionID += 1
        let conn = ClientConnection(id: id, fd: fd, buffer: buffer, now: WallClock.monotonic())
        connections[id] = conn
        poller.add(fd, events: conn.interest, token: id)
        if !buffer.isEmpty {
            process(conn)
            updateInterest(conn)
        }
    }

    func readIn(_ conn: ClientConnection, events: UInt32) {
        switch conn.state {
        case .verifying, .writing:
            // Not reading in these states (interest is off); only a dead socket reports here.
            if events & (Poller.hangup | Poller.error) != 0 { drop(conn) }
            return
        case .readingHead, .readingLoginBody, .readingLegacyForm:
            break
        }
        var cap = config.limits.maxHeadBytes + 64 * 1024
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

    /// Advances a connection as far as its buffered bytes allow.
    func process(_ conn: ClientConnection) {
        while connections[conn.id] != nil {
            switch conn.state {
            case .verifying, .writing:
                return
            case .readingLegacyForm(let head, let headLength, let scanner, let login, let data):
                advanceLegacyForm(conn, head: head, headLength: headLength, scanner: scanner, login: login, data: data)
                return
            case .readingLoginBody(let head, let headLength, var decoder, var body):
                let consumed: Int
                do {
                    consumed = try conn.buffer.withUnsafeBytes { raw in
                        try decoder.feed(raw) { chunk in
                            guard body.count + chunk.count <= Self.maxLoginBodyBytes else { throw HTTPError(400, "login body too large") }
                            body.append(contentsOf: chunk)
                        }
                    }
                } catch {
                    reject(conn, head: head, status: (error as? HTTPError)?.status ?? 400, reason: "\(error)", close: true)
                    return
                }
                conn.buffer.removeFirst(consumed)
                if decoder.isDone {
                    conn.scanned = 0
                    conn.headStarted = conn.buffer.isEmpty ? nil : WallClock.monotonic()
                    startLogin(conn, head: head, body: body, bytesIn: headLength + consumed)
                    return
                }
                conn.state = .readingLoginBody(head: head, headLength: headLength, decoder: decoder, body: body)
                if conn.sawEOF { drop(conn) }
                return
            case .readingHead:
                if conn.buffer.isEmpty {
                    if conn.sawEOF { drop(conn) }
                    return
                }
                guard let end = HTTPHeadParser.headEnd(in: conn.buffer, searchFrom: conn.scanned) else {
                    conn.scanned = conn.buffer.count
                    if conn.buffer.count > config.limits.maxHeadBytes {
                        refuse(conn, status: 431, reason: "request head larger than \(config.limits.maxHeadBytes) bytes")
                    } else if conn.sawEOF {
                        drop(conn)
                    }
                    return
                }
                if end > config.limits.maxHeadBytes {
                    refuse(conn, status: 431, reason: "request head larger than \(config.limits.maxHeadBytes) bytes")
                    return
                }
                let head: HTTPRequestHead
                do { head = try HTTPHeadParser.parse(conn.buffer[0..<end]) } catch {
                    refuse(conn, status: error.status, reason: error.reason)
                    return
                }
                route(conn, head: head, headLength: end)
            }
        }
    }

    func route(_ conn: ClientConnection, head: HTTPRequestHead, headLength: Int) {
        switch router.decide(head) {
        case .health:
            conn.consume(headLength)
            respond(conn, HTTPResponse.head(status: 200, headers: [("content-length", "0")], close: !head.keepAlive),
                    close: !head.keepAlive)
        case .reject(let status, let reason):
            reject(conn, head: head, status: status, reason: reason, close: head.bodyFraming != .none || !head.keepAlive, headLength: headLength)
        case .login:
            conn.buffer.removeFirst(headLength)
            conn.scanned = 0
            conn.state = .readingLoginBody(head: head, headLength: headLength, decoder: BodyDecoder(framing: head.bodyFraming), body: [])
            conn.pending = .init(method: "hostKey", path: String(head.path), user: "-", client: clientVersion(head), started: WallClock.monotonic(), bytesIn: 0)
        case .forward(let user):
            guard let record = workers[user] else { return }
            handOff(conn, to: record)
        case .legacyForm(let boundary, let login):
            conn.state = .readingLegacyForm(head: head, headLength: headLength,
                                            scanner: LegacyFormScanner(boundary: boundary, framing: head.bodyFraming), login: login, data: [])
            if login {
                conn.pending = .init(method: "hostKey", path: String(head.path), user: "-", client: "legacy", started: WallClock.monotonic(), bytesIn: 0)
            }
        }
    }

    func clientVersion(_ head: HTTPRequestHead) -> String {
        head.header("anki-sync").flatMap { try? SyncHeader(parsing: $0).clientVersion } ?? "-"
    }

    // MARK: login

    struct Credentials: Decodable {
        var u: String
        var p: String
    }

    func startLogin(_ conn: ClientConnection, head: HTTPRequestHead, body: [UInt8], bytesIn: Int) {
        let credentials: Credentials
        do {
            let json = try ZstdDecompressor.decompress(body, limit: Self.maxLoginBodyBytes)
            credentials = try JSONDecoder().decode(Credentials.self, from: Data(json))
        } catch {
            reject(conn, head: head, status: 400, reason: "login body is not zstd JSON {\"u\",\"p\"}: \(error)", close: false)
            return
        }
        submitLogin(conn, head: head, credentials: credentials, bytesIn: bytesIn)
    }

    func submitLogin(_ conn: ClientConnection, head: HTTPRequestHead, credentials: Credentials, bytesIn: Int) {
        conn.pending?.bytesIn = bytesIn
        conn.pending?.user = credentials.u
        conn.state = .verifying
        updateInterest(conn)
        if !logins.submit(.init(connectionID: conn.id, userName: credentials.u, password: credentials.p)) {
            conn.state = .readingHead
            reject(conn, head: head, status: 503, reason: "too many logins at once; try again", close: false)
        }
    }

    func finishLogins() {
        for outcome in logins.drain() {
            guard let conn = connections[outcome.connectionID] else { continue }
            conn.state = .readingHead
            let legacy = conn.legacyLogin
            conn.legacyLogin = false
            if let key = outcome.hostKey, legacy {
                let json = Array("{\"key\":\"\(key)\"}".utf8)
                let head = HTTPResponse.head(status: 200, headers: [("content-type", "application/octet-stream"),
                                                                    ("content-length", String(json.count))])
                logRequest(conn, status: 200, bytesOut: head.count + json.count)
                respond(conn, head + json, close: false)
            } else if let key = outcome.hostKey {
                let json = Array("{\"key\":\"\(key)\"}".utf8)
                let body = ZstdCompressor.compress(json)
                let head = HTTPResponse.head(status: 200, headers: [("content-type", "application/octet-stream"),
                                                                    ("anki-original-size", String(json.count)),
                                                                    ("content-length", String(body.count))])
                logRequest(conn, status: 200, bytesOut: head.count + body.count)
                respond(conn, head + body, close: false)
            } else {
                log.warn("login refused", ["user": .string(outcome.userName)])
                let reply = HTTPResponse.text(status: 403, "403")
                logRequest(conn, status: 403, bytesOut: reply.count)
                respond(conn, reply, close: false)
            }
        }
    }

    // MARK: replies

    /// Refuses a request whose head could not be used: the connection's framing is unknown, so close.
    func refuse(_ conn: ClientConnection, status: Int, reason: String) {
        log.warn("request refused", ["status": .of(status), "reason": .string(reason), "conn": .of(Int64(conn.id))])
        conn.buffer = []
        respond(conn, HTTPResponse.text(status: status, reason, close: true), close: true)
    }

    func reject(_ conn: ClientConnection, head: HTTPRequestHead, status: Int, reason: String, close: Bool, headLength: Int = 0) {
        log.info("request", ["user": .string(conn.pending?.user ?? "-"), "method": .string(String(head.path)),
                             "status": .of(status), "reason": .string(reason)])
        conn.pending = nil
        if close { conn.buffer = [] } else { conn.consume(headLength) }
        conn.state = .readingHead
        respond(conn, HTTPResponse.text(status: status, reason, close: close), close: close)
    }

    func logRequest(_ conn: ClientConnection, status: Int, bytesOut: Int) {
        guard let p = conn.pending else { return }
        let ms = Int((WallClock.monotonic() - p.started) * 1000)
        log.info("request", ["user": .string(p.user), "client": .string(p.client), "method": .string(p.method),
                             "status": .of(status), "in": .of(p.bytesIn), "out": .of(bytesOut), "ms": .of(ms)])
        conn.pending = nil
    }

    func respond(_ conn: ClientConnection, _ bytes: [UInt8], close: Bool) {
        conn.outbound = bytes
        conn.outboundSent = 0
        conn.closeAfterWrite = close
        conn.state = .writing
        writeOut(conn)
    }

    func writeOut(_ conn: ClientConnection) {
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
        sweepControl(now: now)
        for record in workersByIndex where record.retiring && now > record.killDeadline {
            if let pid = record.pid {
                log.warn("worker did not stop in time; killing", ["user": .string(record.user.name), "pid": .of(pid)])
                kill(pid, SIGKILL)
            }
            record.killDeadline = .infinity
        }
        let limits = config.limits
        for conn in Array(connections.values) {
            switch conn.state {
            case .readingHead:
                if let started = conn.headStarted, !conn.buffer.isEmpty {
                    if now - started > Double(limits.headTimeoutSeconds) {
                        refuse(conn, status: 408, reason: "request head not received within \(limits.headTimeoutSeconds) s")
                    }
                } else if now - conn.lastActivity > Double(limits.idleConnectionSeconds) || stopping {
                    drop(conn)
                }
            case .readingLoginBody(let head, _, _, _), .readingLegacyForm(let head, _, _, _, _):
                if now - conn.lastActivity > Double(limits.bodyStallSeconds) {
                    reject(conn, head: head, status: 408, reason: "request body stalled", close: true)
                }
            case .writing:
                if now - conn.lastActivity > Double(limits.bodyStallSeconds) { drop(conn) }
            case .verifying:
                break
            }
        }
    }

    // MARK: workers

    func handOff(_ conn: ClientConnection, to record: WorkerRecord) {
        if !record.isRunning {
            let now = WallClock.monotonic()
            if now < record.backoffUntil {
                refuse(conn, status: 503, reason: "this account's worker is restarting after repeated crashes; try again in \(Int(record.backoffUntil - now) + 1) s")
                return
            }
            do { try spawn(record) } catch {
                log.error("worker spawn failed", ["user": .string(record.user.name), "error": .string("\(error)")])
                refuse(conn, status: 500, reason: "could not start this account's worker")
                return
            }
        }
        // Stop watching it now: from here on the bytes belong to the worker.
        poller.remove(conn.fd)
        connections[conn.id] = nil
        record.waiting.append(conn)
        flushWaiting(record)
    }

    func flushWaiting(_ record: WorkerRecord) {
        guard let channel = record.channel, !record.retiring else { return }
        while let conn = record.waiting.first {
            let result: ChannelSocket.SendResult
            do {
                result = try channel.send(.connection(id: conn.id, prefix: conn.buffer), passing: conn.fd)
            } catch {
                log.error("handoff failed", ["user": .string(record.user.name), "error": .string("\(error)")])
                record.waiting.removeFirst()
                close(conn.fd)
                continue
            }
            switch result {
            case .sent:
                record.waiting.removeFirst()
                record.handedOut += 1
                record.sentConnections += 1
                close(conn.fd)
            case .wouldBlock:
                poller.modify(channel.fd, events: Poller.readable | Poller.writable, token: Self.channelBase + UInt64(record.index))
                return
            case .closed:
                // The worker is gone; SIGCHLD handling respawns it for the waiting connections.
                return
            }
        }
        poller.modify(channel.fd, events: Poller.readable, token: Self.channelBase + UInt64(record.index))
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
        record.pid = pid
        record.channel = mine
        record.startedAt = WallClock.monotonic()
        record.stats = WorkerStats()
        record.sentConnections = 0
        record.retiring = false
        poller.add(mine.fd, events: Poller.readable, token: Self.channelBase + UInt64(record.index))
        let hello = WorkerHello(user: record.user.name, folder: config.folder(of: record.user.name), hostKey: record.user.hostKey,
                                maxPayloadMegs: config.maxPayloadMegs, limits: config.limits, logFormat: config.logFormat)
        _ = try mine.send(.hello(hello))
        log.info("worker spawned", ["user": .string(record.user.name), "pid": .of(pid)])
    }

    func channelEvent(_ record: WorkerRecord, events: UInt32) {
        guard let channel = record.channel else { return }
        if events & Poller.writable != 0 { flushWaiting(record) }
        while true {
            let result: ChannelSocket.ReceiveResult
            do { result = try channel.receive() } catch {
                log.error("bad channel message", ["user": .string(record.user.name), "error": .string("\(error)")])
                continue
            }
            switch result {
            case .wouldBlock:
                return
            case .closed:
                // Wait for SIGCHLD to learn how it ended; stop polling the dead channel meanwhile.
                poller.remove(channel.fd)
                return
            case .message(let message, let fd):
                switch message {
                case .connectionBack(_, let leftover):
                    record.handedOut = max(0, record.handedOut - 1)
                    guard fd >= 0 else { continue }
                    if stopping && leftover.isEmpty {
                        close(fd)
                        continue
                    }
                    _ = cshim_set_nonblocking(fd, 1)
                    adopt(fd: fd, buffer: leftover)
                case .stats(let stats):
                    record.stats = stats
                    record.lastRequestMillis = max(record.lastRequestMillis, stats.lastRequestMillis)
                    // A worker that served a request is healthy again: forget earlier crashes.
                    if stats.requestsServed > 0 { record.consecutiveCrashes = 0 }
                    if fd >= 0 { close(fd) }
                case .maintenanceDone(let id, let reply):
                    if fd >= 0 { close(fd) }
                    finishMaintenance(record, id: id, reply: reply)
                case .idle(let received):
                    if fd >= 0 { close(fd) }
                    if !record.retiring && received == record.sentConnections && record.waiting.isEmpty && !stopping
                        && record.maintenanceWaiters.isEmpty {
                        record.retiring = true
                        record.killDeadline = WallClock.monotonic() + 60
                        _ = try? channel.send(.shutdown(reason: "idle for \(config.limits.workerIdleSeconds) s"))
                        log.info("worker idle exit", ["user": .string(record.user.name), "pid": .of(record.pid ?? 0)])
                    }
                default:
                    if fd >= 0 { close(fd) }
                    log.warn("unexpected channel message", ["user": .string(record.user.name)])
                }
            }
        }
    }

    func handleSignals() {
        while true {
            let sig = cshim_signalfd_read(signalFD)
            if sig <= 0 { return }
            switch sig {
            case SIGCHLD: reapChildren()
            case SIGTERM, SIGINT: beginStop(signal: sig)
            case SIGHUP:
                let reply = reload()
                if !reply.ok { log.error("reload refused", ["reason": .string(reply.message)]) }
            default: break
            }
        }
    }

    func reapChildren() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            guard let record = workersByIndex.first(where: { $0.pid == pid }) else { continue }
            let how = WorkerSpawner.describe(status: status)
            let uptime = Int(WallClock.monotonic() - record.startedAt)
            if let channel = record.channel {
                poller.remove(channel.fd)
                close(channel.fd)
            }
            record.pid = nil
            record.channel = nil
            record.handedOut = 0
            record.retiring = false
            record.killDeadline = .infinity
            record.requestsBefore += record.stats.requestsServed
            record.stats = WorkerStats()
            if WorkerSpawner.exitedCleanly(status: status) || stopping {
                record.consecutiveCrashes = 0
                log.info("worker exited", ["user": .string(record.user.name), "pid": .of(pid), "status": .string(how), "uptime_s": .of(uptime)])
            } else {
                // A worker that dies soon after starting counts towards backoff; a long healthy run resets it.
                record.consecutiveCrashes = uptime < 10 ? record.consecutiveCrashes + 1 : 1
                log.error("worker crashed", ["user": .string(record.user.name), "pid": .of(pid), "status": .string(how), "uptime_s": .of(uptime)])
                if record.consecutiveCrashes >= 3 {
                    let delay = min(60.0, pow(2.0, Double(record.consecutiveCrashes - 2)))
                    record.backoffUntil = WallClock.monotonic() + delay
                    log.warn("worker backoff", ["user": .string(record.user.name), "seconds": .of(Int(delay)), "crashes": .of(record.consecutiveCrashes)])
                }
            }
            for (waiter, command) in record.maintenanceWaiters.values {
                waiter.reply(ControlReply(ok: false, message: "the worker of \(record.user.name) exited (\(how)) during \(command.rawValue)"))
            }
            record.maintenanceWaiters = [:]
            for waiter in record.restartWaiters {
                waiter.reply(ControlReply(ok: true, message: "worker of \(record.user.name) (pid \(pid)) stopped: \(how)"))
            }
            record.restartWaiters = []
            if record.respawnAfterExit && !stopping && !record.removed {
                record.respawnAfterExit = false
                do { try spawn(record) } catch {
                    log.error("worker spawn failed", ["user": .string(record.user.name), "error": .string("\(error)")])
                }
            }
            let waiting = record.waiting
            record.waiting = []
            if stopping || record.removed {
                for conn in waiting { close(conn.fd) }
            } else if !waiting.isEmpty {
                for conn in waiting {
                    // Re-adopt and route again: spawns a fresh worker or answers 503 during backoff.
                    connections[conn.id] = conn
                    conn.interest = Poller.readable | Poller.peerClosed
                    poller.add(conn.fd, events: conn.interest, token: conn.id)
                    handOff(conn, to: record)
                }
            }
        }
    }

    func beginStop(signal: Int32) {
        guard !stopping else { return }
        stopping = true
        stopDeadline = WallClock.monotonic() + 30
        log.info("stopping", ["signal": .of(signal)])
        poller.remove(listenFD)
        close(listenFD)
        poller.remove(controlFD)
        close(controlFD)
        unlink(ControlSocket.path(base: config.baseDirectory))
        for conn in Array(connections.values) {
            if case .readingHead = conn.state, conn.buffer.isEmpty { drop(conn) }
        }
        for record in workersByIndex {
            guard let channel = record.channel else { continue }
            _ = try? channel.send(.shutdown(reason: "server stopping"))
        }
    }

    func killRemainingWorkers() {
        for record in workersByIndex {
            if let pid = record.pid {
                log.warn("worker did not stop in time; killing", ["user": .string(record.user.name), "pid": .of(pid)])
                kill(pid, SIGKILL)
            }
        }
        stopDeadline = .infinity
    }
}
