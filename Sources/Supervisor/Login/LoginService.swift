import CShim
import FoundationEssentials
import Glibc
import Shared
import Synchronization

/// Verifies passwords on a few dedicated threads, so the accept loop never blocks on PBKDF2
/// (~0.1 s of CPU each). Results come back through `drain()` after `wakeFD` turns readable.
/// Waiting checks are ordered by `LoginQueue`, so a flood from one address cannot make everybody
/// else's login wait behind it.
final class LoginService: Sendable {
    typealias Job = LoginQueue.Job

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
    /// Waiting checks and finished outcomes, guarded by `condition`; verifiers sleep on it.
    private let condition = ConditionLock()
    nonisolated(unsafe) private var queue = LoginQueue()
    nonisolated(unsafe) private var outcomes: [Outcome] = []

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
        condition.lock()
        defer { condition.unlock() }
        guard queue.count < maxQueued else { return false }
        queue.push(job)
        condition.signal()
        return true
    }

    func drain() -> [Outcome] {
        var counter: UInt64 = 0
        _ = read(wakeFD, &counter, 8)
        condition.lock()
        defer { condition.unlock() }
        let out = outcomes
        outcomes = []
        return out
    }

    private func run() {
        // Verifiers live as long as the process; the supervisor exits without stopping them.
        while true {
            condition.lock()
            var next = queue.next()
            while next == nil {
                condition.wait()
                next = queue.next()
            }
            condition.unlock()
            guard let job = next else { continue }
            let outcome: Outcome
            let (entry, dummy) = table.withLock { ($0.hashes[job.userName], $0.dummy) }
            if let entry {
                let ok = entry.hash.verify(job.password)
                outcome = Outcome(connectionID: job.connectionID, hostKey: ok ? entry.hostKey : nil, userName: job.userName)
            } else {
                _ = dummy.verify(job.password)
                outcome = Outcome(connectionID: job.connectionID, hostKey: nil, userName: job.userName)
            }
            condition.lock()
            outcomes.append(outcome)
            queue.finished(peer: job.peer)
            // The finished address may have another check waiting.
            condition.signal()
            condition.unlock()
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }
}
