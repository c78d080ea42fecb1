import CShim
import FoundationEssentials
import Glibc
import Shared
import Storage

/// The sandbox every worker enters once it knows its folder and before it opens a user file
/// (README "Sandbox"): no_new_privs, resource limits, Landlock beneath the folder, a seccomp
/// allow-list. Where the kernel lacks a layer the worker runs with the rest and says so, unless
/// SYNC_REQUIRE_SANDBOX=1.
enum Sandbox {
    struct Incomplete: Error, CustomStringConvertible {
        let isolation: WorkerIsolation
        let problems: [String]
        var description: String { "SYNC_REQUIRE_SANDBOX=1 but the worker sandbox is incomplete: " + problems.joined(separator: "; ") }
    }

    /// Enters the sandbox for `folder`. Returns the layers in place and the problems met (empty
    /// when complete); throws `Incomplete` if `required` and a layer is missing.
    static func enter(folder: String, limits: ResourceLimits, required: Bool) throws(Incomplete) -> (WorkerIsolation, [String]) {
        prepare()
        var problems: [String] = []
        do { try limits.apply() } catch { problems.append("\(error)") }
        do {
            let rc = cshim_set_no_new_privs()
            if rc != 0 { throw SandboxError(step: "no_new_privs", code: rc) }
        } catch { problems.append("\(error)") }
        // Started before the folder rule, so operator jobs can reach their own folders (see there).
        MaintenanceThreads.shared.start()
        var abi = Landlock.availableABI()
        if abi == 0 {
            problems.append("Landlock is not available (kernel without it, or blocked by a container or seccomp profile)")
        } else {
            do { try Landlock.restrict(to: [folder], abi: abi) } catch {
                problems.append("\(error)")
                abi = 0
            }
        }
        MaintenanceThreads.shared.landlockABI = abi
        var seccomp = false
        if cshim_no_new_privs() == 1 {
            do {
                try SeccompFilter.install()
                seccomp = true
            } catch { problems.append("\(error)") }
        }
        let isolation = WorkerIsolation(landlockAbi: abi, seccomp: seccomp, noNewPrivs: cshim_no_new_privs() == 1)
        if required && !isolation.complete { throw Incomplete(isolation: isolation, problems: problems) }
        return (isolation, problems)
    }

    /// What the worker needs from outside its folder, fetched while it still can: the local
    /// time zone (new collections' day start) and SQLite's random seed (/dev/urandom).
    private static func prepare() {
        _ = TimeZone.current.secondsFromGMT()
        SQLiteConnection.seedRandomness()
    }
}
