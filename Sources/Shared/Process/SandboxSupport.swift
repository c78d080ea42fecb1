import CShim

/// What the kernel offers for the worker sandbox, asked by the supervisor at start so that
/// SYNC_REQUIRE_SANDBOX=1 can refuse at once rather than let every worker fail later.
public enum SandboxSupport {
    /// Why the full sandbox cannot be had here, or nil if it can.
    public static func missing() -> String? {
        var gaps: [String] = []
        if cshim_landlock_abi() < 1 { gaps.append("Landlock is not available (kernel without it, or blocked by a container or seccomp profile)") }
        if cshim_seccomp_available() == 0 { gaps.append("seccomp filters are not available") }
        return gaps.isEmpty ? nil : gaps.joined(separator: "; ")
    }
}
