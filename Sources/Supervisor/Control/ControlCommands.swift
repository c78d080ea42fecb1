import FoundationEssentials
import Shared

/// The client side of `status`, `restart USER` and `reload`: print the answer, exit 0 on success.
enum ControlCommands {
    static func simple(_ request: ControlRequest, base: String, timeoutSeconds: Int = 75) -> Int32 {
        do {
            let reply = try ControlEndpoint.request(request, base: base, timeoutSeconds: timeoutSeconds)
            if reply.ok { print(reply.message) } else { complain(reply.message) }
            return reply.ok ? 0 : 1
        } catch {
            complain("no server answers on \(ControlSocket.path(base: base)): \(error)")
            return 1
        }
    }

    static func status(base: String, json: Bool) -> Int32 {
        let reply: ControlReply
        do { reply = try ControlEndpoint.request(ControlRequest(command: .status), base: base) } catch {
            complain("no server answers on \(ControlSocket.path(base: base)): \(error)")
            return 1
        }
        guard reply.ok, let status = reply.status else {
            complain(reply.message)
            return 1
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
        let header = ["USER", "STATE", "WORKER PID", "UP", "SYNCING", "LAST REQUEST", "REQUESTS", "CRASHES", "SANDBOX"]
        var rows = [header]
        for u in status.users {
            var state = u.state
            if let b = u.backoffSeconds { state += " (\(b) s)" }
            rows.append([u.user, state, u.workerPid.map(String.init) ?? "-", u.workerUptimeSeconds.map(duration) ?? "-",
                         u.workerPid == nil ? "-" : (u.activeSyncSession ? "yes" : "no"),
                         u.lastRequestMillis.map(isoTime) ?? "-", String(u.requestsServed), String(u.consecutiveCrashes),
                         u.isolation.map(sandbox) ?? "-"])
        }
        let widths = (0..<header.count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        for row in rows {
            let cells = row.enumerated().map { $1 + String(repeating: " ", count: max(0, widths[$0] - $1.count)) }
            lines.append(cells.joined(separator: "  ").trimmedWhitespace())
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
