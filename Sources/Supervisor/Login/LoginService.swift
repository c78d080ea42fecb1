import CShim
import FoundationEssentials
import Glibc
import Shared
import Synchronization

/// Verifies passwords on a few dedicated threads, so the accept loop never blocks on PBKDF2
/// (~0.1 s of CPU each). Results come back through `drain()` after `wakeFD` turns readable.
/// Waiting checks are taken round-robin by client address, so a flood from one address cannot
/// make everybody else's login wait behind it.
final class LoginService: Sendable {
    struct Job: Sendable {
        let connectionID: UInt64
        let userName: String
        let password: String
        /// The throttle's key for the client address (fairness between addresses).
        let peer: String
    }

    struct Outcome: Sendable {
        let connectionID: UInt64
        /// The user's hkey when the password was right.
        let hostKey: String?
        let userName: String
    }

    /// An eventfd the supervisor's poller watches.
    let wakeFD: Int32
    /// The account table; replaced as a whole on reload.
    private let table: Mutex<Table>

    struct Table: Sendable {
        var hashes: [String: Credential]
        /// Verified against for unknown names so that timing does not reveal which names exist.
        var dummy: PHCHash
    }

    struct Credential: Sendable {
        var hash: PHCHash
        var hostKey: String
    }
    private let maxQueued: Int
    private let state = Mutex<Queue>(Queue())

    /// Per-address FIFO queues served in turn, and finished checks.
    struct Queue: Sendable {
        var byPeer: [String: [Job]] = [:]
        /// Addresses with waiting jobs, in the order they are served next.
        var turn: [String] = []
        var count = 0
        var outcomes: [Outcome] = []

        mutating func push(_ job: Job) {
            if byPeer[job.peer, default: []].isEmpty { turn.append(job.peer) }
            byPeer[job.peer, default: []].append(job)
            count += 1
        }

        mutating func pop() -> Job? {
            guard !turn.isEmpty else { return nil }
            let peer = turn.removeFirst()
            var jobs = byPeer[peer] ?? []
            let job = jobs.removeFirst()
            if jobs.isEmpty { byPeer[peer] = nil } else { byPeer[peer] = jobs; turn.append(peer) }
            count -= 1
            return job
        }
    }
    /// Counts queued jobs; verifier threads sleep on it.
    private let pending = CountingSemaphore()

    init(users: [UserEntry], hashed: Bool, threads: Int, maxQueued: Int) throws(SystemError) {
        table = Mutex(LoginService.makeTable(users: users, hashed: hashed))
        self.maxQueued = maxQueued
        wakeFD = cshim_eventfd()
        guard wakeFD >= 0 else { throw SystemError("eventfd") }
        for _ in 0..<threads {
            // Long-lived verifier threads: at most `threads` hashes run at once.
            try DetachedThread.start(stackSize: 256 * 1024) { [self] in self.run() }
        }
    }

    /// Builds the account table. Plaintext passwords are hashed here, once, with the official
    /// server's parameters, so a login costs the same as there.
    static func makeTable(users: [UserEntry], hashed: Bool) -> Table {
        var hashes: [String: Credential] = [:]
        for user in users {
            let hash = hashed ? (try? PHCHash(parsing: user.secret)) ?? PHCHash.plaintext(UUID().uuidString) : PHCHash.plaintext(user.secret)
            hashes[user.name] = Credential(hash: hash, hostKey: user.hostKey)
        }
        let costliest = hashes.values.map(\.hash).max { a, b in
            (a.rounds, a.algorithm == .sha512 ? 1 : 0) < (b.rounds, b.algorithm == .sha512 ? 1 : 0)
        }
        return Table(hashes: hashes, dummy: costliest ?? PHCHash.plaintext(""))
    }

    /// Switches to a new account table (reload); logins already running finish against the old one.
    func replace(_ newTable: Table) {
        table.withLock { $0 = newTable }
    }

    /// Queues a verification; false when the queue is full (answer 503).
    func submit(_ job: Job) -> Bool {
        let accepted = state.withLock { s -> Bool in
            guard s.count < maxQueued else { return false }
            s.push(job)
            return true
        }
        if accepted { pending.signal() }
        return accepted
    }

    func drain() -> [Outcome] {
        var counter: UInt64 = 0
        _ = read(wakeFD, &counter, 8)
        return state.withLock { s in
            let out = s.outcomes
            s.outcomes = []
            return out
        }
    }

    private func run() {
        while true {
            pending.wait()
            // Verifiers live as long as the process; the supervisor exits without stopping them.
            guard let job = state.withLock({ $0.pop() }) else { continue }
            let outcome: Outcome
            let (entry, dummy) = table.withLock { ($0.hashes[job.userName], $0.dummy) }
            if let entry {
                let ok = entry.hash.verify(job.password)
                outcome = Outcome(connectionID: job.connectionID, hostKey: ok ? entry.hostKey : nil, userName: job.userName)
            } else {
                _ = dummy.verify(job.password)
                outcome = Outcome(connectionID: job.connectionID, hostKey: nil, userName: job.userName)
            }
            state.withLock { $0.outcomes.append(outcome) }
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }
}
