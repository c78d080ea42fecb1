import FoundationEssentials

/// One configured account: `SYNC_USERn=name:secret`.
public struct UserEntry: Sendable, Equatable {
    public let name: String
    /// The text after the first `:` exactly as configured (a password, or a PHC string when hashed).
    public let secret: String
    /// The bearer key clients receive at login and send on every request.
    public let hostKey: String
}

/// Everything the supervisor reads from its environment. Names and defaults match the official
/// server; the extra limits are ours and are documented in README.md.
public struct ServerConfig: Sendable {
    public var users: [UserEntry]
    public var passwordsHashed: Bool
    public var baseDirectory: String
    public var host: String
    public var port: Int
    public var maxPayloadMegs: Int
    public var limits: Limits
    public var workerBinary: String?
    public var logFormat: LogFormat
    /// SYNC_IP_HEADER: where client addresses come from (login throttling, log lines).
    public var clientIPSource: ClientIPSource = .connectInfo
    /// SYNC_METRICS_ADDR: where the Prometheus listener binds; nil = no metrics.
    public var metricsAddress: ListenAddress?

    /// Named limits. Each is an environment variable; see README "Limits".
    public struct Limits: Sendable, Equatable, Codable {
        /// SYNC_HEAD_TIMEOUT_SECS: a request head must arrive completely within this time (408).
        public var headTimeoutSeconds: Int = 30
        /// A request head larger than this is refused with 431. Fixed.
        public var maxHeadBytes: Int = 64 * 1024
        /// SYNC_MAX_CONNECTIONS: client connections open at once, wherever they are; 0 = sized
        /// from the descriptor limit at start.
        public var maxConnections: Int = 0
        /// SYNC_MAX_CONCURRENT_LOGINS: password verifications running at once (each costs ~0.1 s CPU).
        public var maxConcurrentLogins: Int = 2
        /// Logins waiting for a verifier; beyond this a login gets 503.
        public var maxQueuedLogins: Int = 64
        /// SYNC_IDLE_CONNECTION_SECS: an idle keep-alive connection is closed after this long.
        public var idleConnectionSeconds: Int = 300
        /// SYNC_BODY_STALL_SECS: a request body that moves no byte for this long is abandoned.
        public var bodyStallSeconds: Int = 60
        /// SYNC_WORKER_IDLE_SECS: a worker with no request for this long exits.
        public var workerIdleSeconds: Int = 300
        /// SYNC_WORKER_MAX_REQUESTS: requests one user's worker serves at once; as many again
        /// times `waitingPerRequestSlot` wait for a turn, further ones get 503.
        public var maxWorkerRequests: Int = 8
        /// Requests allowed to wait per serving slot (fixed).
        public static let waitingPerRequestSlot = 4
        public var maxWaitingWorkerRequests: Int { maxWorkerRequests * Self.waitingPerRequestSlot }
        /// SYNC_WORKER_HOLD_MS: how long a worker keeps a keep-alive connection after answering, to
        /// serve the same account's next request itself; 0 = every request goes through the front door.
        public var workerHoldMillis: Int = 500
        /// SYNC_REQUIRE_SANDBOX=1: refuse to run workers without every sandbox layer (README "Sandbox").
        public var requireSandbox = false
        /// SYNC_QUOTA_MEGS: MiB one user's folder may hold (collection + media); nil = no quota.
        public var quotaMegs: Int?
        /// SYNC_QUOTA_MEGS_<user>: per-user quota overriding the default; 0 = no quota for that user.
        public var userQuotaMegs: [String: Int] = [:]
        public init() {}

        /// The quota of `user` in bytes, nil when none applies.
        public func quotaBytes(for user: String) -> Int64? {
            guard let megs = userQuotaMegs[user] ?? quotaMegs, megs > 0 else { return nil }
            return Int64(megs) * 1024 * 1024
        }
    }

    /// The decompressed size limit of the official server: 3 × MAX_SYNC_PAYLOAD_MEGS MiB.
    public var maxDecompressedBytes: Int { Self.maxDecompressedBytes(megs: maxPayloadMegs) }
    public static func maxDecompressedBytes(megs: Int) -> Int { megs * 3 * 1024 * 1024 }

    public func user(named name: String) -> UserEntry? { users.first { $0.name == name } }
    public func user(hostKey: String) -> UserEntry? { users.first { $0.hostKey == hostKey } }
    public func folder(of user: String) -> String { FilePath.join(baseDirectory, user) }
}

public enum LogFormat: String, Sendable, Codable { case text, json }

/// A configuration problem, naming the variable so the operator can fix it.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let variable: String
    public let problem: String
    public init(_ variable: String, _ problem: String) {
        self.variable = variable
        self.problem = problem
    }
    public var description: String { "\(variable): \(problem)" }
}

extension ServerConfig {
    /// Reads the configuration from an environment dictionary; throws on the first problem.
    public static func load(environment env: [String: String]) throws(ConfigError) -> ServerConfig {
        let hashed = env["PASSWORDS_HASHED"] != nil
        var users: [UserEntry] = []
        var index = 1
        while let raw = env["SYNC_USER\(index)"] {
            let variable = "SYNC_USER\(index)"
            guard let colon = raw.firstIndex(of: ":") else {
                throw ConfigError(variable, "expected user:password")
            }
            let name = String(raw[..<colon])
            let secret = String(raw[raw.index(after: colon)...])
            try validateUserName(name, variable: variable)
            if users.contains(where: { $0.name == name }) {
                throw ConfigError(variable, "duplicate user name '\(name)'")
            }
            if hashed {
                do { _ = try PHCHash(parsing: secret) } catch {
                    throw ConfigError(variable, "PASSWORDS_HASHED is set but the password is not a valid PHC pbkdf2 string (\(error))")
                }
            } else if secret.isEmpty {
                throw ConfigError(variable, "empty password")
            }
            users.append(UserEntry(name: name, secret: secret, hostKey: HostKey.derive(entry: raw)))
            index += 1
        }
        if users.isEmpty {
            throw ConfigError("SYNC_USER1", "no users configured; set SYNC_USER1=user:password")
        }
        let base = baseDirectory(environment: env)
        if base.isEmpty { throw ConfigError("SYNC_BASE", "must not be empty") }
        let host = env["SYNC_HOST"] ?? "0.0.0.0"
        if host.isEmpty { throw ConfigError("SYNC_HOST", "must not be empty") }
        let port = try integer(env, "SYNC_PORT", default: 8080, range: 1...65535)
        let megs = try integer(env, "MAX_SYNC_PAYLOAD_MEGS", default: 100, range: 1...1300)
        var limits = Limits()
        limits.headTimeoutSeconds = try integer(env, "SYNC_HEAD_TIMEOUT_SECS", default: limits.headTimeoutSeconds, range: 1...3600)
        limits.maxConnections = try integer(env, "SYNC_MAX_CONNECTIONS", default: limits.maxConnections, range: 0...1_000_000)
        limits.maxConcurrentLogins = try integer(env, "SYNC_MAX_CONCURRENT_LOGINS", default: limits.maxConcurrentLogins, range: 1...64)
        limits.idleConnectionSeconds = try integer(env, "SYNC_IDLE_CONNECTION_SECS", default: limits.idleConnectionSeconds, range: 1...86400)
        limits.bodyStallSeconds = try integer(env, "SYNC_BODY_STALL_SECS", default: limits.bodyStallSeconds, range: 1...3600)
        limits.workerIdleSeconds = try integer(env, "SYNC_WORKER_IDLE_SECS", default: limits.workerIdleSeconds, range: 1...86400 * 30)
        limits.maxWorkerRequests = try integer(env, "SYNC_WORKER_MAX_REQUESTS", default: limits.maxWorkerRequests, range: 1...256)
        limits.workerHoldMillis = try integer(env, "SYNC_WORKER_HOLD_MS", default: limits.workerHoldMillis, range: 0...5_000)
        switch env["SYNC_REQUIRE_SANDBOX"] ?? "0" {
        case "0", "": limits.requireSandbox = false
        case "1": limits.requireSandbox = true
        default: throw ConfigError("SYNC_REQUIRE_SANDBOX", "expected 1 or 0")
        }
        if env["SYNC_QUOTA_MEGS"] != nil {
            limits.quotaMegs = try integer(env, "SYNC_QUOTA_MEGS", default: 0, range: 1...100_000_000)
        }
        for key in env.keys where key.hasPrefix(quotaPrefix) {
            let name = String(key.dropFirst(quotaPrefix.count))
            guard users.contains(where: { $0.name == name }) else { throw ConfigError(key, "no user named '\(name)'") }
            limits.userQuotaMegs[name] = try integer(env, key, default: 0, range: 0...100_000_000)
        }
        let format: LogFormat
        switch env["SYNC_LOG_FORMAT"] ?? "text" {
        case "text": format = .text
        case "json": format = .json
        default: throw ConfigError("SYNC_LOG_FORMAT", "expected text or json")
        }
        let worker = env["SYNC_WORKER_BIN"].flatMap { $0.isEmpty ? nil : $0 }
        var config = ServerConfig(users: users, passwordsHashed: hashed, baseDirectory: base, host: host, port: port,
                                  maxPayloadMegs: megs, limits: limits, workerBinary: worker, logFormat: format)
        config.clientIPSource = try ClientIPSource.parse(env["SYNC_IP_HEADER"])
        if let metrics = env["SYNC_METRICS_ADDR"], !metrics.isEmpty {
            config.metricsAddress = try ListenAddress(parsing: metrics, variable: "SYNC_METRICS_ADDR")
        }
        return config
    }

    /// `SYNC_QUOTA_MEGS_<user>`: a per-user quota (for names usable in a variable name).
    public static let quotaPrefix = "SYNC_QUOTA_MEGS_"

    /// SYNC_BASE with its default (`~/.syncserver`) and `~` expanded.
    public static func baseDirectory(environment env: [String: String]) -> String {
        let home = env["HOME"] ?? FilePath.homeDirectory()
        var base = env["SYNC_BASE"] ?? FilePath.join(home, ".syncserver")
        if base.hasPrefix("~") { base = home + base.dropFirst() }
        return base
    }

    /// A user name becomes a folder name under SYNC_BASE, so it must be one safe path component.
    public static func validateUserName(_ name: String, variable: String) throws(ConfigError) {
        if name.isEmpty { throw ConfigError(variable, "empty user name") }
        if name == "." || name == ".." || name.hasPrefix(".") {
            throw ConfigError(variable, "user name '\(name)' cannot start with '.'")
        }
        for scalar in name.unicodeScalars where scalar == "/" || scalar == "\\" || scalar.value == 0 || scalar.value < 0x20 {
            throw ConfigError(variable, "user name contains a character not allowed in a folder name")
        }
        if name.utf8.count > 255 { throw ConfigError(variable, "user name longer than 255 bytes") }
    }

    static func integer(_ env: [String: String], _ key: String, default value: Int, range: ClosedRange<Int>) throws(ConfigError) -> Int {
        guard let raw = env[key] else { return value }
        guard let parsed = Int(raw.trimmedWhitespace()), range.contains(parsed) else {
            throw ConfigError(key, "expected a whole number from \(range.lowerBound) to \(range.upperBound), got '\(raw)'")
        }
        return parsed
    }
}

/// Parses a systemd `EnvironmentFile`: `KEY=value` lines, `#`/`;` comments, optional quotes,
/// `export ` prefixes tolerated. Returns the assignments in order.
public enum EnvironmentFile {
    /// Undoes `\"` and `\\` inside a double-quoted value.
    static func unescapeDoubleQuoted(_ text: String) -> String {
        var out = ""
        var escaped = false
        for c in text {
            if escaped {
                if c != "\"" && c != "\\" { out.append("\\") }
                out.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        if escaped { out.append("\\") }
        return out
    }

    public static func parse(_ text: String) throws(ConfigError) -> [String: String] {
        var result: [String: String] = [:]
        for (number, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            var line = rawLine.trimmedWhitespace()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("export ") { line = line.dropFirst(7).trimmedWhitespace() }
            guard let eq = line.firstIndex(of: "=") else {
                throw ConfigError("line \(number + 1)", "expected KEY=value")
            }
            let key = line[..<eq].trimmedWhitespace()
            var value = line[line.index(after: eq)...].trimmedWhitespace()
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw ConfigError("line \(number + 1)", "invalid variable name '\(key)'")
            }
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
                if first == "\"" {
                    value = EnvironmentFile.unescapeDoubleQuoted(value)
                }
            }
            result[key] = value
        }
        return result
    }
}
