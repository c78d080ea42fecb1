import Glibc
import Shared
import Storage

/// `anki-sync-worker --sandbox-selftest FOLDER PROBE [ARG]`: enters the worker's real sandbox for
/// FOLDER, then tries one thing and prints `allowed ...` or `denied: ...`. A probe that the seccomp
/// filter stops never prints: the process dies of SIGSYS. Used by Tests/EndToEnd/test_sandbox.py.
enum SandboxSelfTest {
    static func run(_ args: [String]) -> Int32 {
        guard args.count >= 2 else {
            say("usage: anki-sync-worker --sandbox-selftest FOLDER read|write|sqlite|exec|tcp|unix|signal [ARG]")
            return 2
        }
        let limits = ResourceLimits(maxConnections: ServerConfig.Limits().maxWorkerRequests + ServerConfig.Limits().maxWaitingWorkerRequests, maxPayloadMegs: 100)
        let isolation: WorkerIsolation
        let problems: [String]
        do { (isolation, problems) = try Sandbox.enter(folder: args[0], limits: limits, required: false) } catch {
            say("cannot enter: \(error)")
            return 1
        }
        say("isolation landlock=\(isolation.landlockAbi) seccomp=\(isolation.seccomp ? 1 : 0) nnp=\(isolation.noNewPrivs ? 1 : 0)")
        for problem in problems { say("problem: \(problem)") }
        let arg = args.count > 2 ? args[2] : ""
        switch args[1] {
        case "read": say(outcome(readFile(arg)))
        case "write": say(outcome(writeFile(arg)))
        case "sqlite": say(sqlite(arg))
        case "exec": say(outcome(exec(arg)))
        case "tcp": say(outcome(connectTCP(port: UInt16(arg) ?? 9)))
        case "unix": say(outcome(connectUnix(arg)))
        case "signal": say(outcome(kill(pid_t(arg) ?? 1, SIGCONT) == 0 ? 0 : errno))
        default:
            say("unknown probe \(args[1])")
            return 2
        }
        return 0
    }

    private static func outcome(_ code: Int32) -> String {
        code == 0 ? "allowed" : "denied: \(String(cString: strerror(code))) (errno \(code))"
    }

    private static func readFile(_ path: String) -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        var byte: UInt8 = 0
        return read(fd, &byte, 1) >= 0 ? 0 : errno
    }

    private static func writeFile(_ path: String) -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        return (try? FileDescriptorIO.writeAll(fd, Array("x".utf8))) != nil ? 0 : EIO
    }

    /// A WAL-mode database written and read back inside the folder.
    private static func sqlite(_ path: String) -> String {
        do {
            let db = try SQLiteConnection(path: path, create: true)
            defer { db.close() }
            let mode = try db.scalar("PRAGMA journal_mode = WAL")?.string ?? "?"
            try db.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
            try db.run("INSERT INTO t VALUES (?)", [.integer(42)])
            let rows = try db.scalar("SELECT count(*) FROM t WHERE x = 42")?.int64 ?? 0
            return "allowed journal=\(mode) rows=\(rows)"
        } catch {
            return "denied: \(error)"
        }
    }

    private static func exec(_ path: String) -> Int32 {
        var argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
        var envp: [UnsafeMutablePointer<CChar>?] = [nil]
        execve(path, &argv, &envp)
        return errno
    }

    private static func connectTCP(port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return rc == 0 ? 0 : errno
    }

    private static func connectUnix(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8.prefix(107))
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return rc == 0 ? 0 : errno
    }

    private static func say(_ text: String) {
        try? FileDescriptorIO.writeAll(1, Array((text + "\n").utf8))
    }
}
