import FoundationEssentials

/// Messages on the supervisor ⇄ worker channel (one SOCK_SEQPACKET socketpair per worker).
/// Wire form of every message: [version: UInt8][kind: UInt8][payload]; a client socket, when one
/// travels with the message, rides along as SCM_RIGHTS ancillary data.
public enum ChannelMessage: Equatable, Sendable {
    /// Supervisor → worker, first message: who the worker serves and with which limits.
    case hello(WorkerHello)
    /// Supervisor → worker: a client connection (with fd) and the bytes already read from it.
    case connection(id: UInt64, prefix: [UInt8])
    /// Worker → supervisor: the connection (with fd) after a response, and bytes read past it.
    case connectionBack(id: UInt64, leftover: [UInt8])
    /// Worker → supervisor: counters for status.
    case stats(WorkerStats)
    /// Supervisor → worker: finish in-flight requests, roll back open sessions, exit.
    case shutdown(reason: String)
    /// Worker → supervisor: idle for SYNC_WORKER_IDLE_SECS after receiving this many connections.
    /// The supervisor answers `shutdown` only if it has sent no connection since, so no handover
    /// can be lost to an exiting worker.
    case idle(received: UInt64)
    /// Supervisor → worker: run a maintenance job (snapshot, restore) under the user's locks.
    case maintenance(id: UInt64, request: MaintenanceRequest)
    /// Worker → supervisor: the outcome of a maintenance job.
    case maintenanceDone(id: UInt64, reply: MaintenanceReply)
    /// Worker → supervisor: one request served (metrics, device list), before its stats.
    case requestDone(RequestReport)
    /// Supervisor → worker: a restart waits; send held connections back and keep no more.
    case releaseHeld

    public static let version: UInt8 = 4
    /// Largest message accepted; keeps every message inside one SEQPACKET datagram.
    public static let maxSize = 192 * 1024

    enum Kind: UInt8 { case hello = 1, connection, connectionBack, stats, shutdown, idle, maintenance, maintenanceDone, requestDone, releaseHeld }

    public func encode() -> [UInt8] {
        switch self {
        case .hello(let hello): return Self.frame(.hello, Self.json(hello))
        case .connection(let id, let prefix): return Self.frame(.connection, Self.u64(id) + prefix)
        case .connectionBack(let id, let leftover): return Self.frame(.connectionBack, Self.u64(id) + leftover)
        case .stats(let stats):
            // Sent after every request, so a fixed binary layout rather than JSON.
            return Self.frame(.stats, Self.u64(UInt64(max(0, stats.requestsServed))) + [stats.activeSyncSession ? 1 : 0]
                + Self.u64(UInt64(bitPattern: stats.lastRequestMillis)) + Self.u64(UInt64(max(0, stats.inFlight)))
                + WorkerIsolation.encode(stats.isolation))
        case .shutdown(let reason): return Self.frame(.shutdown, Array(reason.utf8))
        case .idle(let received): return Self.frame(.idle, Self.u64(received))
        case .maintenance(let id, let request): return Self.frame(.maintenance, Self.u64(id) + Self.json(request))
        case .maintenanceDone(let id, let reply): return Self.frame(.maintenanceDone, Self.u64(id) + Self.json(reply))
        case .requestDone(let report): return Self.frame(.requestDone, report.encode())
        case .releaseHeld: return Self.frame(.releaseHeld, [])
        }
    }

    public struct DecodeError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func decode(_ bytes: ArraySlice<UInt8>) throws(DecodeError) -> ChannelMessage {
        guard bytes.count >= 2 else { throw DecodeError(description: "short channel message") }
        let base = bytes.startIndex
        guard bytes[base] == version else { throw DecodeError(description: "channel version \(bytes[base]) (expected \(version))") }
        guard let kind = Kind(rawValue: bytes[base + 1]) else { throw DecodeError(description: "unknown channel message \(bytes[base + 1])") }
        let payload = bytes[(base + 2)...]
        switch kind {
        case .hello: return .hello(try json(WorkerHello.self, payload))
        case .stats:
            guard payload.count == 25 + WorkerIsolation.encodedSize, payload[payload.startIndex + 8] <= 1 else {
                throw DecodeError(description: "bad stats message")
            }
            let served = Self.readU64(payload, at: 0)
            let last = Self.readU64(payload, at: 9)
            let inFlight = Self.readU64(payload, at: 17)
            guard served <= UInt64(Int.max), inFlight <= UInt64(Int.max),
                  let isolation = WorkerIsolation.decode(payload.dropFirst(25)) else { throw DecodeError(description: "bad stats message") }
            return .stats(WorkerStats(requestsServed: Int(served), activeSyncSession: payload[payload.startIndex + 8] == 1,
                                      lastRequestMillis: Int64(bitPattern: last), inFlight: Int(inFlight), isolation: isolation))
        case .shutdown: return .shutdown(reason: String(decoding: payload, as: UTF8.self))
        case .requestDone:
            guard let report = RequestReport.decode(payload) else { throw DecodeError(description: "bad request report") }
            return .requestDone(report)
        case .releaseHeld:
            guard payload.isEmpty else { throw DecodeError(description: "bad releaseHeld message") }
            return .releaseHeld
        case .idle:
            guard payload.count == 8 else { throw DecodeError(description: "bad idle message") }
            return .idle(received: payload.reduce(0) { $0 << 8 | UInt64($1) })
        case .maintenance, .maintenanceDone:
            guard payload.count > 8 else { throw DecodeError(description: "short maintenance message") }
            let id = payload.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
            let body = payload.dropFirst(8)
            if kind == .maintenance { return .maintenance(id: id, request: try json(MaintenanceRequest.self, body)) }
            return .maintenanceDone(id: id, reply: try json(MaintenanceReply.self, body))
        case .connection, .connectionBack:
            guard payload.count >= 8 else { throw DecodeError(description: "short connection message") }
            var id: UInt64 = 0
            for b in payload.prefix(8) { id = id << 8 | UInt64(b) }
            let rest = Array(payload.dropFirst(8))
            return kind == .connection ? .connection(id: id, prefix: rest) : .connectionBack(id: id, leftover: rest)
        }
    }

    static func frame(_ kind: Kind, _ payload: [UInt8]) -> [UInt8] { [version, kind.rawValue] + payload }

    static func readU64(_ bytes: ArraySlice<UInt8>, at offset: Int) -> UInt64 {
        bytes.dropFirst(offset).prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func u64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * $0)) } }

    static func json<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? Array(encoder.encode(value))) ?? []
    }

    static func json<T: Decodable>(_ type: T.Type, _ payload: ArraySlice<UInt8>) throws(DecodeError) -> T {
        do { return try JSONDecoder().decode(type, from: Data(payload)) } catch {
            throw DecodeError(description: "bad \(type) payload: \(error)")
        }
    }
}

/// What a worker needs to serve its user. Sent over the channel, never on argv or in the environment.
public struct WorkerHello: Codable, Equatable, Sendable {
    public var user: String
    public var folder: String
    public var hostKey: String
    public var maxPayloadMegs: Int
    public var limits: ServerConfig.Limits
    public var logFormat: LogFormat
    /// The header SYNC_IP_HEADER names, if any: a held connection serves a next request only if
    /// it names the same client there.
    public var addressHeader: String?

    public init(user: String, folder: String, hostKey: String, maxPayloadMegs: Int, limits: ServerConfig.Limits, logFormat: LogFormat,
                addressHeader: String? = nil) {
        (self.user, self.folder, self.hostKey) = (user, folder, hostKey)
        (self.maxPayloadMegs, self.limits, self.logFormat, self.addressHeader) = (maxPayloadMegs, limits, logFormat, addressHeader)
    }
}

/// A job a worker runs on its user's files while holding that user's locks.
public struct MaintenanceRequest: Codable, Equatable, Sendable {
    public enum Command: String, Codable, Sendable { case snapshot, restore }
    public var command: Command
    /// snapshot: the folder to create and fill; restore: the snapshot folder to restore from.
    public var path: String

    public init(command: Command, path: String) {
        self.command = command
        self.path = path
    }
}

/// A maintenance job's outcome: what the control client is told, so the same type.
public typealias MaintenanceReply = ControlReply

/// A worker's counters, reported when it has started and after every request.
public struct WorkerStats: Codable, Equatable, Sendable {
    public var requestsServed: Int
    public var activeSyncSession: Bool
    /// Unix milliseconds of the last request, 0 if none yet.
    public var lastRequestMillis: Int64
    public var inFlight: Int
    /// The sandbox the worker runs in; nil until the worker has reported it.
    public var isolation: WorkerIsolation?

    public init(requestsServed: Int = 0, activeSyncSession: Bool = false, lastRequestMillis: Int64 = 0, inFlight: Int = 0,
                isolation: WorkerIsolation? = nil) {
        (self.requestsServed, self.activeSyncSession, self.lastRequestMillis) = (requestsServed, activeSyncSession, lastRequestMillis)
        (self.inFlight, self.isolation) = (inFlight, isolation)
    }
}

/// Which layers of the sandbox a worker entered (README "Sandbox").
public struct WorkerIsolation: Codable, Equatable, Sendable {
    /// The Landlock ABI the worker restricted itself with; 0 = no Landlock.
    public var landlockAbi: Int
    public var seccomp: Bool
    public var noNewPrivs: Bool

    public init(landlockAbi: Int, seccomp: Bool, noNewPrivs: Bool) {
        (self.landlockAbi, self.seccomp, self.noNewPrivs) = (landlockAbi, seccomp, noNewPrivs)
    }

    /// Every layer is in place (Landlock at any ABI).
    public var complete: Bool { landlockAbi > 0 && seccomp && noNewPrivs }

    /// Stats wire form: [present][landlock ABI][seccomp][no_new_privs].
    static let encodedSize = 4

    static func encode(_ isolation: WorkerIsolation?) -> [UInt8] {
        guard let isolation else { return [0, 0, 0, 0] }
        return [1, UInt8(clamping: isolation.landlockAbi), isolation.seccomp ? 1 : 0, isolation.noNewPrivs ? 1 : 0]
    }

    /// nil for a malformed field; .some(nil) when the worker has not reported its sandbox.
    static func decode(_ bytes: ArraySlice<UInt8>) -> WorkerIsolation?? {
        let b = Array(bytes)
        guard b.count == encodedSize, b[0] <= 1, b[2] <= 1, b[3] <= 1 else { return nil }
        if b[0] == 0 { return .some(nil) }
        return .some(WorkerIsolation(landlockAbi: Int(b[1]), seccomp: b[2] == 1, noNewPrivs: b[3] == 1))
    }
}
