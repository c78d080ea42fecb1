import CShim
import Glibc
import Shared
import Synchronization

/// The worker process: receives connections from the supervisor on descriptor 3, serves one
/// request per handover on its own thread, and hands each connection back afterwards.
enum WorkerMain {
    static func run() -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        // Few threads and little contention: one heap, which `HeapRelease` can trim whole.
        cshim_limit_arenas(1)
        let channel = ChannelSocket(fd: WorkerSpawner.channelDescriptor)
        guard fcntl(channel.fd, F_GETFD) >= 0 else {
            complain("anki-sync-worker is started by anki-sync-server, not by hand")
            return 2
        }
        let hello: WorkerHello
        do {
            guard case .message(.hello(let h), _) = try channel.receive() else {
                complain("expected a hello message on the channel")
                return 2
            }
            hello = h
        } catch {
            complain("bad hello on the channel: \(error)")
            return 2
        }
        let log = Log(format: hello.logFormat, process: "worker:\(hello.user)")
        if let problem = folderProblem(hello.folder) {
            // Answer what the supervisor already sent, so clients see a server error rather than a reset.
            log.error("worker cannot start", ["folder": .string(hello.folder), "reason": .string(problem)])
            refusePending(channel: channel, reason: "this account's data folder is unusable; see the server log")
            return 1
        }
        let isolation: WorkerIsolation
        do {
            let limits = ResourceLimits(maxConnections: hello.limits.maxWorkerRequests + hello.limits.maxWaitingWorkerRequests, maxPayloadMegs: hello.maxPayloadMegs)
            let (entered, problems) = try Sandbox.enter(folder: hello.folder, limits: limits, required: hello.limits.requireSandbox)
            if !problems.isEmpty {
                log.warn("worker sandbox incomplete", ["landlock_abi": .of(entered.landlockAbi), "seccomp": .bool(entered.seccomp),
                                                       "no_new_privs": .bool(entered.noNewPrivs), "problems": .string(problems.joined(separator: "; "))])
            }
            isolation = entered
        } catch {
            log.error("worker cannot start", ["reason": .string("\(error)")])
            refusePending(channel: channel, reason: "this server requires a worker sandbox it cannot set up; see the server log")
            return 1
        }
        let context = WorkerContext(hello: hello, log: log)
        let stale = context.store.removeStaleTemporaries()
        log.info("worker started", ["pid": .of(getpid()), "folder": .string(hello.folder), "stale_temporaries_removed": .of(stale),
                                    "landlock_abi": .of(isolation.landlockAbi), "seccomp": .bool(isolation.seccomp)])
        // Status shows the sandbox from the start, not only after the first request.
        let stats = context.counters.withLock { s -> WorkerStats in
            s.isolation = isolation
            return s
        }
        if (try? channel.send(.stats(stats))) != .sent { log.warn("could not send the first stats to the supervisor") }
        let loop = WorkerLoop(channel: channel, context: context)
        return loop.run()
    }

    /// Why the user's folder cannot be served, or nil if it can.
    static func folderProblem(_ folder: String) -> String? {
        var st = stat()
        guard stat(folder, &st) == 0 else { return "cannot stat: \(String(cString: strerror(errno)))" }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return "not a folder" }
        guard access(folder, R_OK | W_OK | X_OK) == 0 else { return "not readable and writable: \(String(cString: strerror(errno)))" }
        return nil
    }

    /// Replies 500 to every connection waiting on the channel (used when the worker cannot start).
    static func refusePending(channel: ChannelSocket, reason: String) {
        // Shut the receiving side first: from then on the supervisor's sends fail (and it keeps the
        // connection for the next worker), so nothing can arrive after the drain and be lost.
        shutdown(channel.fd, Int32(SHUT_RD))
        _ = cshim_set_nonblocking(channel.fd, 1)
        while case .message(let message, let fd)? = try? channel.receive() {
            guard fd >= 0 else { continue }
            if case .connection = message {
                let reply = HTTPResponse.text(status: 500, reason, close: true)
                _ = reply.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            }
            close(fd)
        }
    }

    static func complain(_ text: String) {
        let bytes = Array("anki-sync-worker: \(text)\n".utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}

/// Receives channel messages and runs requests; exits on shutdown or when the supervisor is gone.
final class WorkerLoop: Sendable {
    let channel: ChannelSocket
    let context: WorkerContext
    private let inFlight = Atomic<Int>(0)
    /// Monotonic milliseconds of the last request's end (or of start-up).
    private let lastActivityMillis = Atomic<Int64>(Int64(WallClock.monotonic() * 1000))
    /// Bounds how long a shutdown waits for in-flight requests.
    static let shutdownGraceSeconds = 30.0

    init(channel: ChannelSocket, context: WorkerContext) {
        self.channel = channel
        self.context = context
        requestThreads = RequestThreads(maxThreads: context.limits.maxWorkerRequests,
                                        maxWaiting: context.limits.maxWaitingWorkerRequests, keepIdle: 4, stackSize: 1 << 20)
    }

    func run() -> Int32 {
        var received: UInt64 = 0
        var idleReported = false
        let idleMillis = Int64(context.limits.workerIdleSeconds) * 1000
        while true {
            // Wait at most a second, so idleness is noticed without a timer thread.
            var pfd = pollfd(fd: channel.fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 1000) == 0 {
                let now = Int64(WallClock.monotonic() * 1000)
                if inFlight.load(ordering: .relaxed) == 0 {
                    let sessionOpen = context.sessions.hasActiveSession
                    if !sessionOpen { context.store.checkpointWhenIdle() }
                    context.heap.tick(idleMillis: now - lastActivityMillis.load(ordering: .relaxed), sessionOpen: sessionOpen)
                }
                if !idleReported && inFlight.load(ordering: .relaxed) == 0
                    && now - lastActivityMillis.load(ordering: .relaxed) >= idleMillis {
                    // Ask to retire; the supervisor says `shutdown` only if nothing is on its way.
                    idleReported = report(.idle(received: received), what: "idle proposal")
                }
                continue
            }
            let result: ChannelSocket.ReceiveResult
            do { result = try channel.receive() } catch {
                context.log.error("bad channel message", ["error": .string("\(error)")])
                continue
            }
            switch result {
            case .wouldBlock:
                continue
            case .closed:
                return stop(reason: "supervisor closed the channel")
            case .message(let message, let fd):
                switch message {
                case .connection(let id, let prefix):
                    received += 1
                    idleReported = false
                    guard fd >= 0 else { continue }
                    admit(id: id, fd: fd, prefix: prefix)
                case .shutdown(let reason):
                    if fd >= 0 { close(fd) }
                    return stop(reason: reason)
                case .releaseHeld:
                    if fd >= 0 { close(fd) }
                    keepNoConnections.store(true, ordering: .relaxed)
                case .maintenance(let id, let request):
                    if fd >= 0 { close(fd) }
                    runMaintenance(id: id, request: request)
                default:
                    if fd >= 0 { close(fd) }
                    context.log.warn("unexpected channel message")
                }
            }
        }
    }

    /// Runs a maintenance job on its own thread; it counts as in flight, so the worker neither
    /// idles out nor stops (within the grace time) while it runs.
    private func runMaintenance(id: UInt64, request: MaintenanceRequest) {
        inFlight.add(1, ordering: .relaxed)
        // The job may reach the folder it names (a snapshot's parent, a restore's source) besides the user's.
        let jobFolder = request.command == .snapshot ? FilePath.directory(of: request.path) : request.path
        MaintenanceThreads.shared.run(within: [context.store.folder, jobFolder], { [self] in
            let reply = MaintenanceHandlers.run(request, context: self.context)
            self.report(.maintenanceDone(id: id, reply: reply), what: "maintenance reply")
            self.lastActivityMillis.store(Int64(WallClock.monotonic() * 1000), ordering: .relaxed)
            self.inFlight.subtract(1, ordering: .relaxed)
        }, failed: { [self] reason in
            self.inFlight.subtract(1, ordering: .relaxed)
            self.context.log.error("cannot start a maintenance thread", ["error": .string(reason)])
            self.report(.maintenanceDone(id: id, reply: MaintenanceReply(ok: false, message: reason)), what: "maintenance reply")
        })
    }

    /// Threads that serve handed-over connections, bounded per user (SYNC_WORKER_MAX_REQUESTS).
    private let requestThreads: RequestThreads

    /// Serves the connection on a request thread, or refuses it with 503 when this user already
    /// has as many requests running and waiting as allowed.
    private func admit(id: UInt64, fd: Int32, prefix: [UInt8]) {
        inFlight.add(1, ordering: .relaxed)
        let accepted = requestThreads.submit { [self] in
            self.serve(id: id, fd: fd, prefix: prefix)
            self.finished()
        }
        guard !accepted else { return }
        let limits = context.limits
        context.log.warn("request refused: too many at once", ["user": .string(context.user), "conn": .of(Int64(id)),
                                                               "running": .of(limits.maxWorkerRequests),
                                                               "waiting": .of(limits.maxWaitingWorkerRequests)])
        // The socket is still non-blocking here: the short answer goes out now or not at all.
        let reply = HTTPResponse.text(status: 503, "too many requests for this account at once (SYNC_WORKER_MAX_REQUESTS="
                                          + "\(limits.maxWorkerRequests)); try again shortly", close: true,
                                      extraHeaders: [("retry-after", "5")])
        _ = reply.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        reportClosed(id)
        finished()
    }

    private func finished() {
        lastActivityMillis.store(Int64(WallClock.monotonic() * 1000), ordering: .relaxed)
        if inFlight.subtract(1, ordering: .relaxed).newValue == 0 { releaseIdleMemory() }
    }

    /// Once nothing is in flight and no sync session is open, a large request's buffers go back.
    private func releaseIdleMemory() {
        guard !context.sessions.hasActiveSession else { return }
        context.heap.becameIdle()
    }

    private func serve(id: UInt64, fd: Int32, prefix: [UInt8]) {
        // The socket arrives non-blocking (the supervisor's setting is shared); requests here use
        // blocking I/O with the stall limit as timeout.
        _ = cshim_set_nonblocking(fd, 0)
        var tv = timeval(tv_sec: context.limits.bodyStallSeconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        // The first request came through the front door; later ones may be served here (see
        // `FollowUpRequest`) until the connection goes back.
        var followUp = FollowUpRequest(hostKey: context.hostKey, addressHeader: context.addressHeader, routedHead: prefix)
        let dispatcher = RequestDispatcher(context: context)
        let reader = RequestReader(connection: SocketConnection(fd: fd), prefix: prefix)
        var served = 0
        var outcome: RequestDispatcher.Outcome
        // Reports go up together when the connection goes back (or every `reportBatch`
        // requests): a report per request woke the supervisor once per request of a sync.
        var reports: [RequestReport] = []
        func sendReports() {
            for r in reports { report(.requestDone(r), what: "request report") }
            reports.removeAll(keepingCapacity: true)
        }
        repeat {
            outcome = dispatcher.serve(reader, connectionID: id, held: served > 0) { reports.append($0) }
            served += 1
            if reports.count >= Self.reportBatch { sendReports() }
            // A large request's buffers go back before the connection is held for the next one,
            // if nothing else runs (as when the connection goes back).
            if inFlight.load(ordering: .relaxed) == 1 { releaseIdleMemory() }
            // Bytes already read past the answer (a pipelining client) go back with the connection.
            guard case .keepAlive(let leftover) = outcome, leftover.isEmpty else { break }
        } while followUp.await(fd: fd, holdMillis: context.limits.workerHoldMillis, giveWay: { self.shouldGiveWay })
        sendReports()
        let stats = context.counters.withLock { s -> WorkerStats in
            s.requestsServed += served
            s.lastRequestMillis = WallClock.nowMillis()
            s.activeSyncSession = context.sessions.hasActiveSession
            s.inFlight = max(0, inFlight.load(ordering: .relaxed) - 1)
            return s
        }
        // Stats first: the supervisor then knows whether a sync session is still open before it
        // can route this connection's next request.
        report(.stats(stats), what: "stats")
        var handedBack = false
        if case .keepAlive(let leftover) = outcome, leftover.count + 16 < ChannelMessage.maxSize {
            handedBack = report(.connectionBack(id: id, leftover: leftover), passing: fd, what: "connection hand-back")
            if !handedBack {
                // The supervisor cannot take it back: end it here rather than leave the client hanging.
                let dropped = connectionsDropped.add(1, ordering: .relaxed).newValue
                context.log.warn("connection closed: could not hand it back", ["conn": .of(Int64(id)), "dropped_total": .of(dropped)])
            }
        }
        if !handedBack { shutdown(fd, Int32(SHUT_RDWR)) }
        close(fd)
        if !handedBack { reportClosed(id) }
    }

    /// Request reports of a held connection sent in one go at most this many at a time.
    static let reportBatch = 32

    /// A held connection goes back at once when other requests wait for a thread, when a restart
    /// waits (`releaseHeld`: this worker is about to be replaced) or when the worker stops.
    private var shouldGiveWay: Bool { keepNoConnections.load(ordering: .relaxed) || requestThreads.hasWaiting }
    private let keepNoConnections = Atomic<Bool>(false)

    /// Tells the supervisor a connection it handed over is closed (a hand-back without a
    /// descriptor), so it stops counting it as open.
    private func reportClosed(_ id: UInt64) {
        report(.connectionBack(id: id, leftover: []), what: "closed connection")
    }

    /// Connections closed because the supervisor could not take them back.
    private let connectionsDropped = Atomic<Int>(0)

    /// Sends a message to the supervisor; a failure is logged and reported as false.
    @discardableResult
    private func report(_ message: ChannelMessage, passing fd: Int32 = -1, what: String) -> Bool {
        do {
            let result = try channel.send(message, passing: fd)
            if result == .sent { return true }
            context.log.warn("channel send failed", ["what": .string(what), "result": .string("\(result)")])
        } catch {
            context.log.error("channel send failed", ["what": .string(what), "error": .string("\(error)")])
        }
        return false
    }

    private func stop(reason: String) -> Int32 {
        context.log.info("worker stopping", ["reason": .string(reason)])
        keepNoConnections.store(true, ordering: .relaxed)
        let deadline = WallClock.monotonic() + Self.shutdownGraceSeconds
        while inFlight.load(ordering: .relaxed) > 0 && WallClock.monotonic() < deadline {
            usleep(20_000)
        }
        context.sessions.abortAny(reason: "shutdown")
        context.store.close()
        context.media.close()
        return 0
    }
}
