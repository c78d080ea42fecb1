import Glibc
import Shared

/// Runs maintenance jobs (snapshot, restore), which read or write a folder the operator names
/// outside the user's. Landlock rules cannot be widened after the fact, so a launcher thread is
/// started before the worker restricts itself; each job gets a fresh thread from it that first
/// restricts itself to the user's folder plus the job's folder. (All threads share the seccomp
/// filter. The launcher is outside the folder rule; README "Sandbox" says what that leaves open.)
final class MaintenanceThreads: @unchecked Sendable {
    static let shared = MaintenanceThreads()

    private let condition = ConditionLock()
    private var jobs: [(folders: [String], body: @Sendable () -> Void)] = []
    private var started = false
    /// The Landlock ABI the worker uses; 0 = jobs run without a folder rule, like the worker.
    var landlockABI: Int {
        get { condition.lock(); defer { condition.unlock() }; return abi }
        set { condition.lock(); abi = newValue; condition.unlock() }
    }
    private var abi = 0

    /// Starts the launcher thread (once). If it cannot start, jobs run on threads of their own.
    func start() {
        condition.lock()
        defer { condition.unlock() }
        guard !started else { return }
        started = (try? DetachedThread.start(stackSize: 256 * 1024) { [self] in self.launch() }) != nil
    }

    /// Runs `body` on a new thread restricted to `folders`. `failed` gets a reason instead if
    /// no thread could be had.
    func run(within folders: [String], _ body: @escaping @Sendable () -> Void, failed: @escaping @Sendable (String) -> Void) {
        condition.lock()
        if started {
            jobs.append((folders, body))
            condition.signal()
            condition.unlock()
            return
        }
        condition.unlock()
        do { try DetachedThread.start(body) } catch { failed("cannot start a thread: \(error)") }
    }

    private func launch() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            let abi = self.abi
            condition.unlock()
            do {
                try DetachedThread.start {
                    if abi > 0 {
                        // On failure (say the folder does not exist) fall back to the user's folder
                        // alone: the job then fails with a clear error rather than run unrestricted.
                        if (try? Landlock.restrict(to: job.folders, abi: abi)) == nil {
                            guard (try? Landlock.restrict(to: Array(job.folders.prefix(1)), abi: abi)) != nil else { return job.body() }
                        }
                    }
                    job.body()
                }
            } catch {
                job.body()
            }
        }
    }
}
