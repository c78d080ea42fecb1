/// Password checks waiting for a verifier thread, in the order that keeps the family first:
/// addresses with no recent failure go before addresses that have been failing, addresses take
/// turns, and a failing address has at most one check running at a time — so a flood of wrong
/// passwords from one address occupies one verifier at most and never delays a clean login by
/// more than the check already running. Pure bookkeeping; the service guards it with its lock.
struct LoginQueue {
    struct Job: Sendable {
        let connectionID: UInt64
        let userName: String
        let password: String
        /// The throttle's key for the client address.
        let peer: String
        /// The address has failed recently.
        let suspect: Bool
    }

    private var byPeer: [String: [Job]] = [:]
    /// Addresses with waiting jobs, in the order they are served next.
    private var turn: [String] = []
    private(set) var running: [String: Int] = [:]
    private(set) var count = 0

    mutating func push(_ job: Job) {
        if byPeer[job.peer, default: []].isEmpty { turn.append(job.peer) }
        byPeer[job.peer, default: []].append(job)
        count += 1
    }

    /// The next job a verifier may run now, if any; it counts as running until `finished`.
    mutating func next() -> Job? {
        for cleanOnly in [true, false] {
            for (i, peer) in turn.enumerated() {
                guard var jobs = byPeer[peer], let job = jobs.first else { continue }
                if cleanOnly && job.suspect { continue }
                if job.suspect && running[peer, default: 0] > 0 { continue }
                jobs.removeFirst()
                turn.remove(at: i)
                if jobs.isEmpty { byPeer[peer] = nil } else { byPeer[peer] = jobs; turn.append(peer) }
                running[peer, default: 0] += 1
                count -= 1
                return job
            }
        }
        return nil
    }

    mutating func finished(peer: String) {
        let left = running[peer, default: 1] - 1
        running[peer] = left > 0 ? left : nil
    }
}
