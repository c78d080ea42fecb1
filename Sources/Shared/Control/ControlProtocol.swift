import FoundationEssentials

/// The supervisor's control socket: a Unix stream socket inside SYNC_BASE (mode 0600) that the
/// `status`, `restart` and `reload` subcommands talk to. One JSON line in, one JSON line out.
public enum ControlSocket {
    /// A leading dot keeps it apart from user folders (user names cannot start with '.').
    public static func path(base: String) -> String { FilePath.join(base, ".anki-sync-server.sock") }
    /// Longest request line accepted.
    public static let maxRequestBytes = 4096
}

public struct ControlRequest: Codable, Equatable, Sendable {
    public enum Command: String, Codable, Sendable { case status, restart, reload, snapshot, restore }
    public var command: Command
    public var user: String?
    /// snapshot: destination folder; restore: snapshot folder.
    public var path: String?
    /// restart: do not wait for an open sync session to finish.
    public var now: Bool?

    public init(command: Command, user: String? = nil, path: String? = nil, now: Bool? = nil) {
        (self.command, self.user, self.path, self.now) = (command, user, path, now)
    }
}

public struct ControlReply: Codable, Equatable, Sendable {
    public var ok: Bool
    public var message: String
    public var status: ServerStatus?

    public init(ok: Bool, message: String, status: ServerStatus? = nil) {
        (self.ok, self.message, self.status) = (ok, message, status)
    }
}

public struct ServerStatus: Codable, Equatable, Sendable {
    public var pid: Int32
    public var version: String
    public var uptimeSeconds: Int
    public var users: [UserStatus]
    public var connections: ConnectionStatus?

    public init(pid: Int32, version: String, uptimeSeconds: Int, users: [UserStatus], connections: ConnectionStatus? = nil) {
        (self.pid, self.version, self.uptimeSeconds, self.users, self.connections) =
            (pid, version, uptimeSeconds, users, connections)
    }
}

/// One device of a user as the server last saw it: the client version string as sent (the
/// protocol has no device id), the address, and how its last sync ended.
public struct DeviceStatus: Codable, Equatable, Sendable {
    public var client: String
    public var address: String
    public var lastSeenMillis: Int64
    /// normal, full upload, full download, error, or - (no sync finished yet).
    public var lastOutcome: String

    public init(client: String, address: String, lastSeenMillis: Int64, lastOutcome: String) {
        (self.client, self.address, self.lastSeenMillis, self.lastOutcome) = (client, address, lastSeenMillis, lastOutcome)
    }
}

/// Client connections by where they are; all of them count toward `limit`.
public struct ConnectionStatus: Codable, Equatable, Sendable {
    /// Held by the supervisor: reading a head, a login, idle between requests.
    public var frontDoor: Int
    /// Waiting for a worker to take them.
    public var waiting: Int
    /// Being served by workers.
    public var inWorkers: Int
    /// SYNC_MAX_CONNECTIONS as in force.
    public var limit: Int

    public init(frontDoor: Int, waiting: Int, inWorkers: Int, limit: Int) {
        (self.frontDoor, self.waiting, self.inWorkers, self.limit) = (frontDoor, waiting, inWorkers, limit)
    }
}

public struct UserStatus: Codable, Equatable, Sendable {
    /// running, stopping (idle exit or restart under way), stopped, backoff (crashing; requests get 503).
    public var user: String
    public var state: String
    public var workerPid: Int32?
    public var workerUptimeSeconds: Int?
    public var activeSyncSession: Bool
    /// Unix milliseconds of the worker's last request, if any.
    public var lastRequestMillis: Int64?
    public var requestsServed: Int
    public var consecutiveCrashes: Int
    public var backoffSeconds: Int?
    /// The running worker's sandbox (Landlock ABI, seccomp, no_new_privs), once it has reported it.
    public var isolation: WorkerIsolation?
    /// Bytes in the user's folder and the user's quota; filled in by the `status` command itself,
    /// which reads SYNC_BASE (the server does not send them).
    public var diskBytes: Int64?
    public var quotaBytes: Int64?
    /// The last devices seen (newest first), kept by the server across restarts.
    public var devices: [DeviceStatus]?

    public init(user: String, state: String, workerPid: Int32?, workerUptimeSeconds: Int?, activeSyncSession: Bool,
                lastRequestMillis: Int64?, requestsServed: Int, consecutiveCrashes: Int, backoffSeconds: Int?,
                isolation: WorkerIsolation? = nil) {
        (self.user, self.state, self.workerPid, self.workerUptimeSeconds, self.activeSyncSession) =
            (user, state, workerPid, workerUptimeSeconds, activeSyncSession)
        (self.lastRequestMillis, self.requestsServed, self.consecutiveCrashes, self.backoffSeconds, self.isolation) =
            (lastRequestMillis, requestsServed, consecutiveCrashes, backoffSeconds, isolation)
    }
}

extension ControlRequest {
    public func encodedLine() -> [UInt8] { ControlCoding.line(self) }
}

extension ControlReply {
    public func encodedLine() -> [UInt8] { ControlCoding.line(self) }
}

public enum ControlCoding {
    public static func line<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return ((try? Array(encoder.encode(value))) ?? Array("{}".utf8)) + [10]
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(type, from: Data(bytes))
    }
}
