import FoundationEssentials
import Glibc
import Shared

/// The client side of `status`, `restart USER`, `reload`, `snapshot` and `restore`: print the
/// answer, exit 0 on success.
enum ControlCommands {
    static func simple(_ request: ControlRequest, base: String, timeoutSeconds: Int = 75) -> Int32 {
        do {
            let reply = try ControlEndpoint.request(request, base: base, timeoutSeconds: timeoutSeconds)
            if reply.ok {
                print(reply.message)
            } else if reply.message.hasPrefix("no such user") {
                complain("\(reply.message) (`status` lists the server's users; `--env-file FILE user add NAME` adds one)")
            } else {
                complain(reply.message)
            }
            return reply.ok ? 0 : 1
        } catch {
            complain(unreachable(base: base, error))
            return 1
        }
    }

    /// One line naming what is wrong with reaching the server and what to do about it.
    static func unreachable(base: String, _ error: any Error) -> String {
        let path = ControlSocket.path(base: base)
        let hint = "(start it, or give the --env-file / SYNC_BASE it runs with)"
        guard let system = error as? SystemError else {
            return "something answers on \(path) but not as anki-sync-server \(ServerVersion.string) "
                + "(another program or version owns this socket; check SYNC_BASE)"
        }
        switch system.code {
        case ENOENT: return "no server is running on SYNC_BASE=\(base): \(path) does not exist \(hint)"
        case ECONNREFUSED: return "no server is running on SYNC_BASE=\(base): \(path) is left from a server that stopped \(hint)"
        case EACCES, EPERM: return "permission denied on \(path): run this command as the server's user (e.g. sudo -u anki-sync …)"
        case ENAMETOOLONG: return "SYNC_BASE=\(base) is too long for the control socket's path (\(path)): use a shorter SYNC_BASE"
        case ENOTSOCK: return "\(path) is not a socket: not an anki-sync-server data folder? \(hint)"
        default: return "no server answers on \(path): \(system) \(hint)"
        }
    }

    static func status(base: String, json: Bool, limits: ServerConfig.Limits?) -> Int32 {
        let reply: ControlReply
        do { reply = try ControlEndpoint.request(ControlRequest(command: .status), base: base) } catch {
            complain(unreachable(base: base, error))
            return 1
        }
        guard reply.ok, var status = reply.status else {
            complain(reply.message)
            return 1
        }
        // Disk use is read here, from the folders themselves: the server need not walk them.
        for i in status.users.indices {
            let user = status.users[i].user
            status.users[i].diskBytes = DiskUsage.bytes(under: FilePath.join(base, user))
            status.users[i].quotaBytes = limits?.quotaBytes(for: user)
        }
        if json {
            print(String(decoding: ControlCoding.line(status).dropLast(), as: UTF8.self))
        } else {
            print(render(status))
        }
        return 0
    }

    static func render(_ status: ServerStatus) -> String {
        var lines = ["anki-sync-server \(status.version), pid \(status.pid), up \(duration(status.uptimeSeconds))"]
        let header = ["USER", "STATE", "WORKER PID", "UP", "SYNCING", "LAST REQUEST", "REQUESTS", "CRASHES", "SANDBOX", "DISK"]
        var rows = [header]
        for u in status.users {
            var state = u.state
            if let b = u.backoffSeconds { state += " (\(b) s)" }
            var disk = u.diskBytes.map(DiskUsage.mebibytes) ?? "-"
            if let q = u.quotaBytes { disk += " of \(DiskUsage.mebibytes(q))" }
            rows.append([u.user, state, u.workerPid.map(String.init) ?? "-", u.workerUptimeSeconds.map(duration) ?? "-",
                         u.workerPid == nil ? "-" : (u.activeSyncSession ? "yes" : "no"),
                         u.lastRequestMillis.map(isoTime) ?? "-", String(u.requestsServed), String(u.consecutiveCrashes),
                         u.isolation.map(sandbox) ?? "-", disk])
        }
        let widths = (0..<header.count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        for row in rows {
            let cells = row.enumerated().map { $1 + String(repeating: " ", count: max(0, widths[$0] - $1.count)) }
            lines.append(cells.joined(separator: "  ").trimmedWhitespace())
        }
        for u in status.users {
            for d in u.devices ?? [] {
                lines.append("  \(u.user) device: \(d.client) from \(d.address), last sync \(isoTime(d.lastSeenMillis)), \(d.lastOutcome)")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// "landlock 7, seccomp, nnp"; a missing layer reads "no landlock" / "no seccomp" / "no nnp".
    static func sandbox(_ isolation: WorkerIsolation) -> String {
        [isolation.landlockAbi > 0 ? "landlock \(isolation.landlockAbi)" : "no landlock",
         isolation.seccomp ? "seccomp" : "no seccomp", isolation.noNewPrivs ? "nnp" : "no nnp"].joined(separator: ", ")
    }

    static func duration(_ seconds: Int) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(seconds % 60)s" }
        return "\(seconds / 3600)h\((seconds % 3600) / 60)m"
    }

    static func isoTime(_ millis: Int64) -> String {
        Date(timeIntervalSince1970: Double(millis) / 1000).formatted(.iso8601)
    }
}
