import Glibc

/// Makes password guessing expensive without letting anyone lock a family member out.
///
/// - Per peer address (IPv6: per /64): each failure blocks the address for twice as long as the
///   previous one (0.25 s, 0.5 s, 1 s … capped at `maxBlockSeconds`). A login that arrives during
///   a short block is held until it ends (a typo costs a moment, not a refusal); during a long
///   one it gets 429 without a password check. At most `maxInFlightPerPeer` checks per address
///   wait or run at once, and `LoginQueue` puts clean addresses first. A success clears the address.
/// - Per user name (known or not, so names are not revealed): recent failures from anywhere delay
///   the answer for that name a little (capped at `maxNameDelay`), never refuse it: an attacker
///   spread over many addresses cannot shut the real user out.
/// Pure bookkeeping with explicit time, so it is tested alone.
struct LoginThrottle {
    /// The first failure's block; each further failure doubles it.
    static let firstBlockSeconds = 0.25
    static let maxBlockSeconds = 60.0
    /// Blocks up to this long hold the login instead of refusing it.
    static let maxHoldSeconds = 5.0
    /// A refusal (429) is sent this late, to at most `maxInFlightPerPeer` connections per address
    /// at once (more are refused at once): a guesser's flood waits instead of spinning, and
    /// cannot fill the connection table with held connections.
    static let tarpitSeconds = 0.5
    static let maxInFlightPerPeer = 8
    /// Seconds added to a name's answers per recent failure, and their cap.
    static let nameDelayPerFailure = 0.05
    static let maxNameDelay = 1.0
    /// A name's failure score halves every this many seconds.
    static let nameHalfLife = 60.0
    /// Quiet addresses and names are forgotten after this long; the tables are bounded.
    static let forgetAfter = 15 * 60.0
    static let maxEntries = 50_000

    struct Peer {
        var failures = 0
        var lastFailure = 0.0
        var blockedUntil = 0.0
        var inFlight = 0
    }

    struct Name {
        var score = 0.0
        var updated = 0.0
    }

    enum Admission: Equatable {
        case allow
        /// Check it once the address's block ends (monotonic time).
        case hold(until: Double)
        /// Seconds the client should wait (the Retry-After value).
        case refuse(retryAfter: Int)
    }

    private(set) var peers: [String: Peer] = [:]
    private(set) var names: [String: Name] = [:]
    /// Which address each login being checked came from.
    private var checking: [UInt64: String] = [:]
    /// Refusals held back, by connection, and how many per address.
    private var tarpitted: [UInt64: String] = [:]
    private var tarpitCount: [String: Int] = [:]

    /// IPv6 addresses are grouped by /64: one subscriber usually holds a whole one.
    static func key(forPeer address: String) -> String {
        address.contains(":") ? PeerAddress.prefix64(address) ?? address : address
    }

    /// May a login from `peer` be checked now? On `.allow` the login counts as in flight for
    /// `connection` until `succeeded`, `failed` or `release`.
    mutating func admit(peer address: String, connection: UInt64, now: Double) -> Admission {
        let key = Self.key(forPeer: address)
        var peer = peers[key] ?? Peer()
        if peer.blockedUntil - now > Self.maxHoldSeconds {
            return .refuse(retryAfter: Int((peer.blockedUntil - now).rounded(.up)))
        }
        if peer.inFlight >= Self.maxInFlightPerPeer { return .refuse(retryAfter: 1) }
        peer.inFlight += 1
        store(peer, key)
        checking[connection] = key
        return peer.blockedUntil > now ? .hold(until: peer.blockedUntil) : .allow
    }

    /// The address has failed since its last success (its checks wait behind clean ones).
    func hasFailed(peerKey: String) -> Bool { (peers[peerKey]?.failures ?? 0) > 0 }

    /// A correct password: the address is forgiven. Returns the delay for the answer.
    mutating func succeeded(connection: UInt64, name: String, now: Double) -> Double {
        if let key = checking.removeValue(forKey: connection), var peer = peers[key] {
            peer.inFlight = max(0, peer.inFlight - 1)
            peer.failures = 0
            peer.blockedUntil = 0
            peers[key] = peer
        }
        return nameDelay(name, now: now)
    }

    /// A wrong password (or unknown name). Returns the delay for the answer.
    mutating func failed(connection: UInt64, name: String, now: Double) -> Double {
        if let key = checking.removeValue(forKey: connection) {
            var peer = peers[key] ?? Peer()
            peer.inFlight = max(0, peer.inFlight - 1)
            peer.failures += 1
            peer.lastFailure = now
            let block = min(Self.maxBlockSeconds, Self.firstBlockSeconds * Glibc.pow(2.0, Double(peer.failures - 1)))
            peer.blockedUntil = max(peer.blockedUntil, now + block)
            store(peer, key)
        }
        let delay = nameDelay(name, now: now)
        var entry = decayed(names[name], now: now)
        entry.score += 1
        if names[name] != nil || names.count < Self.maxEntries { names[name] = entry }
        return delay
    }

    /// Whether this refusal may be held back (`tarpitSeconds`); if so, `untarpit` when it is sent.
    mutating func tarpit(peer address: String, connection: UInt64) -> Bool {
        let key = Self.key(forPeer: address)
        guard tarpitCount[key, default: 0] < Self.maxInFlightPerPeer else { return false }
        tarpitCount[key, default: 0] += 1
        tarpitted[connection] = key
        return true
    }

    mutating func untarpit(connection: UInt64) {
        guard let key = tarpitted.removeValue(forKey: connection) else { return }
        let left = tarpitCount[key, default: 1] - 1
        tarpitCount[key] = left > 0 ? left : nil
    }

    /// A login that was admitted but not checked (queue full, connection gone).
    mutating func release(connection: UInt64) {
        guard let key = checking.removeValue(forKey: connection), var peer = peers[key] else { return }
        peer.inFlight = max(0, peer.inFlight - 1)
        peers[key] = peer
    }

    func nameDelay(_ name: String, now: Double) -> Double {
        min(Self.maxNameDelay, decayed(names[name], now: now).score * Self.nameDelayPerFailure)
    }

    private func decayed(_ entry: Name?, now: Double) -> Name {
        guard let entry else { return Name(score: 0, updated: now) }
        let halvings = max(0, now - entry.updated) / Self.nameHalfLife
        return Name(score: entry.score * Glibc.pow(0.5, halvings), updated: now)
    }

    private mutating func store(_ peer: Peer, _ key: String) {
        if peers[key] == nil && peers.count >= Self.maxEntries {
            // Full: make room by forgetting the address that failed longest ago (never one mid-check).
            if let oldest = peers.filter({ $0.value.inFlight == 0 }).min(by: { $0.value.lastFailure < $1.value.lastFailure })?.key {
                peers[oldest] = nil
            } else {
                return
            }
        }
        peers[key] = peer
    }

    /// Drops addresses and names that have been quiet for `forgetAfter`.
    mutating func forgetOld(now: Double) {
        peers = peers.filter { $0.value.inFlight > 0 || $0.value.blockedUntil > now || now - $0.value.lastFailure < Self.forgetAfter }
        names = names.filter { now - $0.value.updated < Self.forgetAfter && decayed($0.value, now: now).score >= 0.05 }
    }
}
