import FoundationEssentials
import Glibc
import Shared

/// What the user asked the `anki-sync-server` command to do.
enum Command: Equatable {
    case serve
    case healthcheck
    case version
    case help
    /// Subcommands that talk to a running server over its control socket.
    case status(json: Bool)
    case restart(user: String, now: Bool)
    case reload
    /// Maintenance run by the user's worker: a consistent copy of the user's files, or putting one back.
    case snapshot(user: String, path: String)
    case restore(user: String, path: String)
    /// Edits of the env file's users (then a reload), and a PHC hash for editing it by hand.
    case user(UserCommands.Action)
    case hashPassword
}

struct Invocation: Equatable {
    var command: Command = .serve
    var envFile: String?
    /// `--hash-existing`: consent to convert plaintext entries when a user command switches the file
    /// to PASSWORDS_HASHED.
    var hashExisting = false

    struct UsageError: Error, CustomStringConvertible {
        let description: String
    }

    static func parse(_ args: [String]) throws(UsageError) -> Invocation {
        var inv = Invocation()
        var i = 0
        while i < args.count {
            let a = args[i]
            switch a {
            case "--healthcheck": inv.command = .healthcheck
            case "--version", "-V": inv.command = .version
            case "--help", "-h": inv.command = .help
            case "--env-file":
                guard i + 1 < args.count else { throw UsageError(description: "--env-file needs a file") }
                inv.envFile = args[i + 1]
                i += 1
            case "--hash-existing": inv.hashExisting = true
            case "hash-password" where inv.command == .serve: inv.command = .hashPassword
            case "user" where inv.command == .serve:
                let verb = i + 1 < args.count ? args[i + 1] : ""
                if verb == "list" {
                    inv.command = .user(.list)
                    i += 1
                } else {
                    guard ["add", "passwd", "remove"].contains(verb) else {
                        throw UsageError(description: "user needs one of: add NAME, passwd NAME, remove NAME, list")
                    }
                    guard i + 2 < args.count, !args[i + 2].hasPrefix("-") else { throw UsageError(description: "user \(verb) needs a user name") }
                    let name = args[i + 2]
                    inv.command = .user(verb == "add" ? .add(name) : verb == "passwd" ? .passwd(name) : .remove(name))
                    i += 2
                }
            case "--json":
                guard case .status = inv.command else { throw UsageError(description: "--json goes with status") }
                inv.command = .status(json: true)
            case "status" where inv.command == .serve:
                inv.command = .status(json: false)
            case "reload" where inv.command == .serve:
                inv.command = .reload
            case "--now":
                guard case .restart(let user, _) = inv.command else { throw UsageError(description: "--now goes with restart") }
                inv.command = .restart(user: user, now: true)
            case "restart" where inv.command == .serve:
                let now = i + 1 < args.count && args[i + 1] == "--now"
                if now { i += 1 }
                guard i + 1 < args.count, !args[i + 1].hasPrefix("-") else { throw UsageError(description: "restart needs a user name") }
                inv.command = .restart(user: args[i + 1], now: now)
                i += 1
            case "snapshot" where inv.command == .serve, "restore" where inv.command == .serve:
                guard i + 2 < args.count, !args[i + 1].hasPrefix("-"), !args[i + 2].hasPrefix("-") else {
                    throw UsageError(description: "\(a) needs a user name and a folder")
                }
                let path = args[i + 2].hasPrefix("/") ? args[i + 2]
                    : FileManager.default.currentDirectoryPath + "/" + args[i + 2]
                inv.command = a == "snapshot" ? .snapshot(user: args[i + 1], path: path) : .restore(user: args[i + 1], path: path)
                i += 2
            default:
                if a.hasPrefix("--env-file=") { inv.envFile = String(a.dropFirst("--env-file=".count)) } else {
                    throw UsageError(description: "unknown argument '\(a)'")
                }
            }
            i += 1
        }
        return inv
    }

    static let usage = """
        usage: anki-sync-server [--env-file FILE]           run the sync server
               anki-sync-server status [--json]             workers of the running server
               anki-sync-server restart [--now] USER        restart one user's worker (after an open sync
                                                            finishes, unless --now)
               anki-sync-server reload                      re-read users from the --env-file (also SIGHUP)
               anki-sync-server snapshot USER DIR           consistent copy of USER's data into DIR (scripts/backup.sh)
               anki-sync-server restore USER DIR            put a snapshot back (scripts/restore.sh)
               anki-sync-server --env-file FILE user add|passwd|remove NAME [--hash-existing]
                                                            edit FILE's users (password from the terminal or
                                                            stdin, stored hashed), then reload the server
               anki-sync-server --env-file FILE user list   the users in FILE
               anki-sync-server hash-password               print a PHC hash of a password read from stdin/terminal
               anki-sync-server --healthcheck               exit 0 if a server answers on SYNC_HOST:SYNC_PORT
               anki-sync-server --version | --help
        Subcommands find the server through the same environment / --env-file (its SYNC_BASE).
        Configuration comes from the environment (SYNC_USER1.., SYNC_BASE, SYNC_HOST, SYNC_PORT, ...);
        --env-file reads KEY=value lines (systemd EnvironmentFile syntax) over it. See README.md.
        """

    /// The process environment with the env file, if any, laid over it.
    func environment() throws -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        if let envFile {
            let text: String
            do { text = try EnvFileStore.read(envFile) } catch { throw ConfigError("--env-file", error.description) }
            let fileEnv = try EnvironmentFile.parse(text)
            // Users come from the file alone, so a removed SYNC_USERn in the file really removes it.
            if fileEnv.keys.contains(where: { $0.hasPrefix("SYNC_USER") }) {
                env = env.filter { !$0.key.hasPrefix("SYNC_USER") }
            }
            env.merge(fileEnv) { _, new in new }
        }
        return env
    }
}

/// `--healthcheck`: GET /health on the configured address; true if it answered 200.
enum HealthCheck {
    /// SYNC_HOST and SYNC_PORT alone: a health check needs no users (a container started with
    /// --env-file has its users only in that file, not in the health check's environment).
    static func address(environment env: [String: String]) throws(ConfigError) -> (host: String, port: Int) {
        let host = env["SYNC_HOST"] ?? "0.0.0.0"
        guard let raw = env["SYNC_PORT"] else { return (host, 8080) }
        guard let port = Int(raw.trimmedWhitespace()), (1...65535).contains(port) else {
            throw ConfigError("SYNC_PORT", "expected a whole number from 1 to 65535, got '\(raw)'")
        }
        return (host, port)
    }

    static func probe(host: String, port: Int, timeoutSeconds: Int = 5) -> Bool {
        let target = host == "0.0.0.0" || host.isEmpty ? "127.0.0.1" : host == "::" ? "::1" : host
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(target, String(port), &hints, &result) == 0, let info = result else { return false }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else { return false }
        let request = Array("GET /health HTTP/1.1\r\nhost: \(target)\r\nconnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return false }
        var reply = [UInt8](repeating: 0, count: 64)
        var got = 0
        while got < 12 {
            let n = reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, $0.count - got, 0) }
            if n <= 0 { break }
            got += n
        }
        return String(decoding: reply[0..<got], as: UTF8.self).hasPrefix("HTTP/1.1 200")
    }
}
