import FoundationEssentials
import Glibc
import Shared

/// Prints one line to standard error.
func complain(_ text: String) {
    let bytes = Array("anki-sync-server: \(text)\n".utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

func start() -> Int32 {
    let invocation: Invocation
    do { invocation = try Invocation.parse(Array(CommandLine.arguments.dropFirst())) } catch {
        complain("\(error)\n\(Invocation.usage)")
        return 2
    }
    switch invocation.command {
    case .help:
        print(Invocation.usage)
        return 0
    case .version:
        print("anki-sync-server \(ServerVersion.string)")
        return 0
    case .hashPassword:
        return UserCommands.hashPassword()
    case .user(let action):
        return UserCommands.run(action, envFile: invocation.envFile, hashExisting: invocation.hashExisting)
    case .healthcheck:
        do {
            let (host, port) = try HealthCheck.address(environment: try invocation.environment())
            return HealthCheck.probe(host: host, port: port) ? 0 : 1
        } catch {
            complain("configuration error: \(error)")
            return 2
        }
    case .serve, .status, .restart, .reload, .snapshot, .restore:
        break
    }
    // Subcommands only need to find the running server (its SYNC_BASE); the server itself judges
    // the rest, so `reload` can report a broken file instead of refusing to send the request.
    switch invocation.command {
    case .status, .restart, .reload, .snapshot, .restore:
        let env: [String: String]
        do { env = try invocation.environment() } catch {
            complain("configuration error: \(error)")
            return 2
        }
        let base = ServerConfig.baseDirectory(environment: env)
        switch invocation.command {
        case .status(let json):
            // Quotas only label the disk column: a file the server would refuse still shows status.
            let limits = try? ServerConfig.load(environment: env).limits
            return ControlCommands.status(base: base, json: json, limits: limits)
        case .restart(let user, let now):
            return ControlCommands.simple(ControlRequest(command: .restart, user: user, now: now), base: base, timeoutSeconds: 200)
        case .snapshot(let user, let path):
            return ControlCommands.simple(ControlRequest(command: .snapshot, user: user, path: path), base: base, timeoutSeconds: 3600)
        case .restore(let user, let path):
            return ControlCommands.simple(ControlRequest(command: .restore, user: user, path: path), base: base, timeoutSeconds: 3600)
        default: return ControlCommands.simple(ControlRequest(command: .reload), base: base)
        }
    default:
        break
    }
    let config: ServerConfig
    do {
        config = try ServerConfig.load(environment: try invocation.environment())
    } catch {
        complain("configuration error: \(error)")
        return 2
    }
    if config.limits.requireSandbox, let missing = SandboxSupport.missing() {
        complain("configuration error: SYNC_REQUIRE_SANDBOX=1 but \(missing)")
        return 2
    }
    let log = Log(format: config.logFormat, process: "supervisor")
    let workerBinary = WorkerSpawner.defaultBinary(override: config.workerBinary)
    guard access(workerBinary, X_OK) == 0 else {
        complain("configuration error: SYNC_WORKER_BIN: worker binary not found or not executable at \(workerBinary)")
        return 2
    }
    // The supervisor creates only the per-user folders; workers create what is inside them.
    do {
        try DataFolders.prepare(base: config.baseDirectory, users: config.users.map(\.name))
    } catch {
        complain("SYNC_BASE: \(error)")
        return 2
    }
    do {
        let supervisor = try Supervisor(config: config, log: log, workerBinary: workerBinary, envFile: invocation.envFile)
        return supervisor.run()
    } catch {
        complain("cannot start: \(error)")
        return 1
    }
}

exit(start())
