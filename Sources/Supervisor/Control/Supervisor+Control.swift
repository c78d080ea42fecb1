import CShim
import FoundationEssentials
import Glibc
import Shared

/// The control socket's commands: status, restart USER, reload (also SIGHUP).
extension Supervisor {
    /// A control client that has not finished its request line within this time is dropped.
    static let controlRequestTimeout = 5.0

    func acceptControl() {
        while true {
            let fd = cshim_accept(controlFD)
            if fd < 0 { return }
            let token = Self.controlConnectionBase + nextControlToken
            nextControlToken += 1
            controlConnections[token] = ControlConnection(fd: fd)
            poller.add(fd, events: Poller.readable, token: token)
        }
    }

    func readControl(token: UInt64) {
        guard let conn = controlConnections[token] else { return }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { recv(conn.fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
        if n > 0 { conn.buffer.append(contentsOf: chunk[0..<n]) }
        let complete = conn.buffer.contains(10)
        if !complete && n > 0 && conn.buffer.count <= ControlSocket.maxRequestBytes { return }
        poller.remove(conn.fd)
        controlConnections[token] = nil
        guard complete, let line = conn.buffer.split(separator: 10).first,
              let request = try? ControlCoding.decode(ControlRequest.self, from: Array(line)) else {
            conn.reply(ControlReply(ok: false, message: "malformed control request"))
            return
        }
        handleControl(request, conn: conn)
    }

    func sweepControl(now: Double) {
        for (token, conn) in controlConnections where now - conn.opened > Self.controlRequestTimeout {
            poller.remove(conn.fd)
            close(conn.fd)
            controlConnections[token] = nil
        }
    }

    func handleControl(_ request: ControlRequest, conn: ControlConnection) {
        switch request.command {
        case .status:
            conn.reply(ControlReply(ok: true, message: "ok", status: status()))
        case .reload:
            conn.reply(reload())
        case .restart:
            guard let name = request.user, let record = workers[name] else {
                conn.reply(ControlReply(ok: false, message: "no such user: \(request.user ?? "(none given)")"))
                return
            }
            restart(record, waiter: conn)
        case .snapshot, .restore:
            guard let name = request.user, let record = workers[name] else {
                conn.reply(ControlReply(ok: false, message: "no such user: \(request.user ?? "(none given)")"))
                return
            }
            guard let path = request.path, path.hasPrefix("/") else {
                conn.reply(ControlReply(ok: false, message: "\(request.command.rawValue) needs an absolute folder path"))
                return
            }
            let command: MaintenanceRequest.Command = request.command == .snapshot ? .snapshot : .restore
            startMaintenance(record, MaintenanceRequest(command: command, path: path), waiter: conn)
        }
    }

    /// Runs a maintenance job in the user's worker (starting it if needed), so it holds the same
    /// locks as sync requests and no write is torn.
    func startMaintenance(_ record: WorkerRecord, _ request: MaintenanceRequest, waiter: ControlConnection) {
        if record.retiring {
            waiter.reply(ControlReply(ok: false, message: "the worker of \(record.user.name) is stopping; try again in a moment"))
            return
        }
        if !record.isRunning {
            if WallClock.monotonic() < record.backoffUntil {
                waiter.reply(ControlReply(ok: false, message: "the worker of \(record.user.name) is in crash backoff; see the log"))
                return
            }
            do { try spawn(record) } catch {
                waiter.reply(ControlReply(ok: false, message: "could not start the worker of \(record.user.name): \(error)"))
                return
            }
        }
        let id = nextMaintenanceID
        nextMaintenanceID += 1
        guard let channel = record.channel, (try? channel.send(.maintenance(id: id, request: request))) == .sent else {
            waiter.reply(ControlReply(ok: false, message: "could not reach the worker of \(record.user.name)"))
            return
        }
        record.maintenanceWaiters[id] = (waiter, request.command)
        log.info("maintenance started", ["user": .string(record.user.name), "job": .string(request.command.rawValue),
                                         "path": .string(request.path)])
    }

    func finishMaintenance(_ record: WorkerRecord, id: UInt64, reply: MaintenanceReply) {
        guard let (waiter, command) = record.maintenanceWaiters.removeValue(forKey: id) else { return }
        log.info("maintenance finished", ["user": .string(record.user.name), "job": .string(command.rawValue),
                                          "ok": .bool(reply.ok), "message": .string(reply.message)])
        waiter.reply(ControlReply(ok: reply.ok, message: reply.message))
        // A restored folder is picked up by a fresh worker, so no state from before survives.
        if command == .restore && reply.ok { restart(record, waiter: nil) }
    }

    func status() -> ServerStatus {
        let now = WallClock.monotonic()
        let users = workersByIndex.filter { !$0.removed }.map { record -> UserStatus in
            let state: String
            if record.retiring { state = "stopping" } else if record.isRunning { state = "running" } else if now < record.backoffUntil {
                state = "backoff"
            } else { state = "stopped" }
            return UserStatus(
                user: record.user.name, state: state, workerPid: record.pid,
                workerUptimeSeconds: record.isRunning ? Int(now - record.startedAt) : nil,
                activeSyncSession: record.isRunning && record.stats.activeSyncSession,
                lastRequestMillis: record.lastRequestMillis > 0 ? record.lastRequestMillis : nil,
                requestsServed: record.requestsBefore + record.stats.requestsServed,
                consecutiveCrashes: record.consecutiveCrashes,
                backoffSeconds: now < record.backoffUntil ? Int((record.backoffUntil - now).rounded(.up)) : nil,
                isolation: record.isRunning ? record.stats.isolation : nil)
        }
        return ServerStatus(pid: getpid(), version: ServerVersion.string, uptimeSeconds: Int(now - startedAt), users: users)
    }

    /// Lets the worker finish its in-flight requests (bounded), then starts a fresh one. Requests
    /// arriving meanwhile wait and go to the new worker. Other users are not touched.
    func restart(_ record: WorkerRecord, waiter: ControlConnection?) {
        log.info("worker restart requested", ["user": .string(record.user.name), "pid": .of(record.pid ?? 0)])
        record.backoffUntil = 0
        record.consecutiveCrashes = 0
        guard record.isRunning, let channel = record.channel else {
            waiter?.reply(ControlReply(ok: true, message: "worker of \(record.user.name) was not running; the next request starts one"))
            return
        }
        if let waiter { record.restartWaiters.append(waiter) }
        record.respawnAfterExit = true
        guard !record.retiring else { return }
        record.retiring = true
        record.killDeadline = WallClock.monotonic() + 30
        if (try? channel.send(.shutdown(reason: "restart requested"))) != .sent, let pid = record.pid {
            kill(pid, SIGTERM)
        }
    }

    /// Re-reads the users from the --env-file. New users can log in at once; removed users' workers
    /// are retired (folders kept); a changed password takes effect at once (the old key stops
    /// working) and restarts that worker. A bad file changes nothing.
    func reload() -> ControlReply {
        guard let envFile else {
            return ControlReply(ok: false, message: "reload needs the server to be started with --env-file FILE")
        }
        let newConfig: ServerConfig
        do {
            var invocation = Invocation()
            invocation.envFile = envFile
            newConfig = try ServerConfig.load(environment: try invocation.environment())
            try DataFolders.prepare(base: config.baseDirectory, users: newConfig.users.map(\.name))
        } catch {
            log.error("reload refused", ["file": .string(envFile), "reason": .string("\(error)")])
            return ControlReply(ok: false, message: "reload refused, old configuration kept: \(error)")
        }
        var notes: [String] = []
        if newConfig.baseDirectory != config.baseDirectory || newConfig.host != config.host || newConfig.port != config.port {
            notes.append("SYNC_BASE, SYNC_HOST and SYNC_PORT changes need a restart of the server")
        }
        var added: [String] = [], removed: [String] = [], changed: [String] = []
        let newNames = Set(newConfig.users.map(\.name))
        for record in workersByIndex where !record.removed && !newNames.contains(record.user.name) {
            removed.append(record.user.name)
            record.removed = true
            workers[record.user.name] = nil
            if record.isRunning, let channel = record.channel, !record.retiring {
                record.retiring = true
                record.killDeadline = WallClock.monotonic() + 30
                _ = try? channel.send(.shutdown(reason: "user removed from the configuration"))
            }
        }
        for user in newConfig.users {
            if let record = workers[user.name] {
                if record.user.secret != user.secret {
                    changed.append(user.name)
                    record.user = user
                    if record.isRunning { restart(record, waiter: nil) }
                }
            } else {
                added.append(user.name)
                let record = WorkerRecord(user: user, index: workersByIndex.count)
                workers[user.name] = record
                workersByIndex.append(record)
            }
        }
        var kept = newConfig
        kept.baseDirectory = config.baseDirectory
        kept.host = config.host
        kept.port = config.port
        config = kept
        router = RequestRouter(users: config.users)
        logins.replace(LoginService.makeTable(users: config.users, hashed: config.passwordsHashed))
        log.info("reload", ["users": .of(config.users.count), "added": .string(added.joined(separator: ",")),
                            "removed": .string(removed.joined(separator: ",")), "password_changed": .string(changed.joined(separator: ","))])
        var message = "reloaded: \(config.users.count) users; added [\(added.joined(separator: ", "))], removed [\(removed.joined(separator: ", "))], password changed [\(changed.joined(separator: ", "))]"
        if !notes.isEmpty { message += "; " + notes.joined(separator: "; ") }
        return ControlReply(ok: true, message: message)
    }
}
