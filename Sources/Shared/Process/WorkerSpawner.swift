import CShim
import FoundationEssentials
import Glibc

/// Starts worker processes: `anki-sync-worker <user>` with its channel end as descriptor 3, no
/// other descriptor, in a process group of its own.
public enum WorkerSpawner {
    /// The channel descriptor number a worker finds its channel on.
    public static let channelDescriptor: Int32 = 3
    /// Set in a spawned worker's environment. It, not argv, tells the binary it is a worker: the
    /// user name on argv (there only so `ps` shows whose worker it is) is never read as an option,
    /// so a user called `--create-collection` is served like anyone else.
    public static let workerMarker = "ANKI_SYNC_WORKER_CHANNEL"

    /// Where the worker binary lives: SYNC_WORKER_BIN, else next to the running executable.
    public static func defaultBinary(override: String?) -> String {
        if let override { return override }
        let own = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return FilePath.join(FilePath.directory(of: own), "anki-sync-worker")
    }

    /// The environment a worker gets: the supervisor's, minus every account secret. A worker learns
    /// its own user's key from the hello message and never sees anyone's password.
    public static func workerEnvironment(_ env: [String: String]) -> [String: String] {
        env.filter { !$0.key.hasPrefix("SYNC_USER") && $0.key != "PASSWORDS_HASHED" }
    }

    public static func spawn(binary: String, user: String, channel: ChannelSocket,
                             environment: [String: String]) throws(SystemError) -> pid_t {
        var pid: pid_t = 0
        let args = [binary, user]
        var cArgs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) }
        cArgs.append(nil)
        var environment = environment
        environment[workerMarker] = String(channelDescriptor)
        var cEnv: [UnsafeMutablePointer<CChar>?] = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") }
        cEnv.append(nil)
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
        }
        let rc = cshim_spawn_with_channel(binary, &cArgs, &cEnv, channel.fd, &pid)
        guard rc == 0 else { throw SystemError("posix_spawn \(binary)", code: rc) }
        return pid
    }

    /// Describes a wait status: "exit 0", "signal 9"; a seccomp kill says so.
    public static func describe(status: Int32) -> String {
        if status & 0x7f == 0 { return "exit \((status >> 8) & 0xff)" }
        let signal = status & 0x7f
        if signal == cshim_sigsys() { return "signal \(signal): worker killed by the sandbox (SIGSYS)" }
        return "signal \(signal)"
    }

    public static func exitedCleanly(status: Int32) -> Bool { status & 0x7f == 0 && (status >> 8) & 0xff == 0 }
}
