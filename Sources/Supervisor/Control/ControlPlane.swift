import CShim
import FoundationEssentials
import Glibc
import Shared

/// The control plane: the control socket (`$SYNC_BASE/.anki-sync-server.sock`, mode 0600) and its
/// commands — status, restart USER, reload (also SIGHUP), snapshot and restore.
/// Never touches: client connections' bytes or user data; it asks the pool and the front door.
final class ControlPlane {
    let poller: Poller
    let log: Log
    let listenFD: Int32
    let socketPath: String
    let startedAt = WallClock.monotonic()
    /// The file `reload` and SIGHUP re-read, if the server was started with --env-file.
    let envFile: String?
    var config: ServerConfig
    let pool: WorkerPool
    let frontDoor: FrontDoor
    private var connections = LocalConnections<ControlConnection>(base: EventToken.controlConnectionBase)
    private var nextMaintenanceID: UInt64 = 1

    /// A control client that has not finished its request line within this time is dropped.
    static let requestTimeout = 5.0

    init(config: ServerConfig, envFile: String?, log: Log, poller: Poller, pool: WorkerPool, frontDoor: FrontDoor) throws {
        self.config = config
        self.envFile = envFile
        self.log = log
        self.poller = poller
        self.pool = pool
        self.frontDoor = frontDoor
        socketPath = ControlSocket.path(base: config.baseDirectory)
        listenFD = try ControlEndpoint.listen(path: socketPath)
        poller.add(listenFD, events: Poller.readable, token: EventToken.control)
    }

    func acceptAll() {
        connections.acceptAll(from: listenFD, poller: poller) { ControlConnection(fd: $0) }
    }

    func read(token: UInt64) {
        guard let conn = connections[token] else { return }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { recv(conn.fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
        if n > 0 { conn.buffer.append(contentsOf: chunk[0..<n]) }
        let complete = conn.buffer.contains(10)
        if !complete && n > 0 && conn.buffer.count <= ControlSocket.maxRequestBytes { return }
        poller.remove(conn.fd)
        connections.remove(token)
        guard complete, let line = conn.buffer.split(separator: 10).first,
              let request = try? ControlCoding.decode(ControlRequest.self, from: Array(line)) else {
            conn.reply(ControlReply(ok: false, message: "malformed control request"))
            return
        }
        handle(request, conn: conn)
    }

    func sweep(now: Double) {
        for (token, conn) in connections.byToken where now - conn.opened > Self.requestTimeout {
            poller.remove(conn.fd)
            Glibc.close(conn.fd)
            connections.remove(token)
        }
    }

    /// Server stop: no more commands.
    func close() {
        poller.remove(listenFD)
        Glibc.close(listenFD)
        unlink(socketPath)
    }

    private func handle(_ request: ControlRequest, conn: ControlConnection) {
        switch request.command {
        case .status:
            conn.reply(ControlReply(ok: true, message: "ok", status: status()))
        case .reload:
            conn.reply(reload())
        case .restart:
            guard let record = record(for: request, conn: conn) else { return }
            pool.restart(record, waiter: conn, waitForSession: !(request.now ?? false))
        case .snapshot, .restore:
            guard let record = record(for: request, conn: conn) else { return }
            guard let path = request.path, path.hasPrefix("/") else {
                conn.reply(ControlReply(ok: false, message: "\(request.command.rawValue) needs an absolute folder path"))
                return
            }
            let command: MaintenanceRequest.Command = request.command == .snapshot ? .snapshot : .restore
            let id = nextMaintenanceID
            nextMaintenanceID += 1
            pool.startMaintenance(record, MaintenanceRequest(command: command, path: path), id: id, waiter: conn)
        }
    }

    private func record(for request: ControlRequest, conn: ControlConnection) -> WorkerRecord? {
        guard let name = request.user, let record = pool.record(named: name) else {
            let known = config.users.map(\.name).joined(separator: ", ")
            conn.reply(ControlReply(ok: false, message: "no such user: \(request.user ?? "(none given)"); configured users: \(known)"))
            return nil
        }
        return record
    }

    func status() -> ServerStatus {
        let now = WallClock.monotonic()
        let connections = ConnectionStatus(frontDoor: frontDoor.connections.count, waiting: pool.waitingConnections,
                                           inWorkers: pool.connectionsInWorkers, limit: frontDoor.maxConnections)
        return ServerStatus(pid: getpid(), version: ServerVersion.string, uptimeSeconds: Int(now - startedAt),
                            users: pool.statusRows(now: now), connections: connections)
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
        var kept = newConfig
        kept.baseDirectory = config.baseDirectory
        kept.host = config.host
        kept.port = config.port
        config = kept
        // Routing and logins first, so a removed user's key stops working before its worker drains.
        frontDoor.router = RequestRouter(users: config.users)
        frontDoor.logins.replace(LoginService.makeTable(users: config.users, hashed: config.passwordsHashed))
        pool.config = config
        let (added, removed, changed) = pool.apply(users: config.users)
        log.info("reload", ["users": .of(config.users.count), "added": .string(added.joined(separator: ",")),
                            "removed": .string(removed.joined(separator: ",")), "password_changed": .string(changed.joined(separator: ","))])
        var message = "reloaded: \(config.users.count) users; added [\(added.joined(separator: ", "))], removed [\(removed.joined(separator: ", "))], password changed [\(changed.joined(separator: ", "))]"
        if !notes.isEmpty { message += "; " + notes.joined(separator: "; ") }
        return ControlReply(ok: true, message: message)
    }
}
