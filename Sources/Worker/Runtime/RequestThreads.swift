import Shared

/// The threads that serve one user's requests: at most `maxThreads` at once, each job on an idle
/// kept thread or a new one; when all are busy up to `maxWaiting` jobs wait for a turn, and
/// beyond that a job is refused (the caller answers 503). Keeps up to `keepIdle` threads between
/// requests (starting a thread per request was a measurable part of a no-op sync's latency).
final class RequestThreads: @unchecked Sendable {
    private let condition = ConditionLock()
    /// Jobs not yet picked up by a thread.
    private var pending: [@Sendable () -> Void] = []
    private var threads = 0
    private var idle = 0
    private let stackSize: Int
    let maxThreads: Int
    let maxWaiting: Int
    private let keepIdle: Int

    init(maxThreads: Int, maxWaiting: Int, keepIdle: Int, stackSize: Int) {
        self.maxThreads = max(1, maxThreads)
        self.maxWaiting = max(0, maxWaiting)
        self.keepIdle = min(keepIdle, self.maxThreads)
        self.stackSize = stackSize
    }

    /// Threads alive now (busy or idle).
    var threadCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return threads
    }

    /// Threads waiting for a job.
    var idleCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return idle
    }

    /// Whether a job waits for a thread.
    var hasWaiting: Bool {
        condition.lock()
        defer { condition.unlock() }
        return pending.count > idle
    }

    /// Runs `job` now or after a wait; false if it was refused (every thread busy, the wait full).
    func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        if idle > pending.count {
            pending.append(job)
            condition.signal()
            condition.unlock()
            return true
        }
        if threads < maxThreads {
            threads += 1
            condition.unlock()
            do {
                try DetachedThread.start(stackSize: stackSize) { [self] in self.loop(first: job) }
                return true
            } catch {
                condition.lock()
                threads -= 1
                // No thread to be had (resource limits): wait for a running one, if any.
                guard threads > 0 else {
                    condition.unlock()
                    return false
                }
            }
        }
        defer { condition.unlock() }
        guard pending.count - idle < maxWaiting else { return false }
        pending.append(job)
        return true
    }

    private func loop(first: @escaping @Sendable () -> Void) {
        var job = first
        while true {
            job()
            condition.lock()
            if pending.count <= idle {
                // Nothing waiting for this thread: keep it for later, or let it end.
                if idle >= keepIdle {
                    threads -= 1
                    condition.unlock()
                    return
                }
                idle += 1
                while pending.isEmpty { condition.wait() }
                idle -= 1
            }
            job = pending.removeFirst()
            condition.unlock()
        }
    }
}
