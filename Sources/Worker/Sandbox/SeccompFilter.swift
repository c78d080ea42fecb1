import CShim
import Glibc

/// The worker's system-call allow-list (built in CShim from the kernel headers). A call outside
/// it kills the process with SIGSYS, which the supervisor logs as "worker killed by the sandbox".
enum SeccompFilter {
    /// True only while finding the calls the worker needs: violations are then allowed and
    /// logged by the kernel (`dmesg`, audit type 1326) instead of killing. Never true in a commit.
    static let discoveryMode = false

    static func available() -> Bool { cshim_seccomp_available() != 0 }

    /// Installs the filter on every thread of the process. Requires no_new_privs.
    static func install() throws(SandboxError) {
        let rc = cshim_seccomp_install(getpid(), discoveryMode ? 1 : 0)
        guard rc == 0 else { throw SandboxError(step: "seccomp", code: rc) }
    }
}
