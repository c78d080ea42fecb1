import Shared

/// The server's Prometheus metrics: every family the server exports is registered here, with
/// its help text, and fed by the parts as things happen. Gauges of current state (connections,
/// workers, disk use) are filled at scrape time by `MetricsEndpoint`.
/// Label values are bounded: configured user names, the fixed method names, status codes and
/// reasons chosen by the server — never text a client sent.
final class ServerMetrics {
    let registry = MetricsRegistry()
    /// Methods named in labels; anything else is counted as "other".
    static let methods: Set<String> = Set(SyncMethod.allCases.map(\.rawValue) + MediaMethod.allCases.map { "msync/" + $0.rawValue }
        + ["health", "metrics", "other"])
    static let durationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

    init() {
        let r = registry
        r.register("anki_sync_build_info", .gauge, help: "Always 1; the version label is the server's.", labels: ["version"])
        r.set("anki_sync_build_info", [ServerVersion.string], 1)
        r.register("anki_sync_requests_total", .counter, help: "Requests answered, by protocol method and HTTP status.",
                   labels: ["method", "status"])
        r.register("anki_sync_request_duration_seconds", .histogram, help: "Time from a request's head to the end of its answer.",
                   labels: ["method"], buckets: Self.durationBuckets)
        r.register("anki_sync_request_bytes_total", .counter, help: "Bytes of requests and responses on the wire.",
                   labels: ["direction"])
        r.register("anki_sync_full_syncs_total", .counter, help: "Whole collections uploaded (stored) or downloaded.",
                   labels: ["direction"])
        r.register("anki_sync_media_files_total", .counter, help: "Media files stored from clients (upload) or sent to them (download).",
                   labels: ["direction"])
        r.register("anki_sync_login_failures_total", .counter,
                   help: "Failed logins: rejected (wrong password or unknown name), throttled (429), malformed, busy (503).",
                   labels: ["reason"])
        r.register("anki_sync_connections", .gauge, help: "Client connections open now, by where they are.", labels: ["state"])
        r.register("anki_sync_connections_limit", .gauge, help: "SYNC_MAX_CONNECTIONS as in force.")
        r.register("anki_sync_connections_closed_total", .counter, help: "Connections the server closed by itself, by reason.",
                   labels: ["reason"])
        r.register("anki_sync_workers", .gauge, help: "Configured users' workers by lifecycle state.", labels: ["state"])
        r.register("anki_sync_worker_events_total", .counter,
                   help: "Worker lifecycle events: spawn, crash, restart, idle_exit, backoff.", labels: ["user", "event"])
        r.register("anki_sync_worker_up", .gauge, help: "1 while the user's worker process runs.", labels: ["user"])
        r.register("anki_sync_user_last_sync_timestamp_seconds", .gauge,
                   help: "Unix time of the user's last successful sync (normal sync finished, full upload or download).",
                   labels: ["user"])
        r.register("anki_sync_user_sessions_rolled_back_total", .counter, help: "Normal-sync sessions rolled back (abort).",
                   labels: ["user"])
        r.register("anki_sync_user_collection_bytes", .gauge, help: "Size of the user's collection file (and its WAL).", labels: ["user"])
        r.register("anki_sync_user_media_bytes", .gauge, help: "Bytes of the user's media files and media.db.", labels: ["user"])
        r.register("anki_sync_user_media_files", .gauge, help: "Files in the user's media folder.", labels: ["user"])
    }

    static func methodLabel(_ method: String) -> String { methods.contains(method) ? method : "other" }

    func request(method: String, status: Int, seconds: Double, bytesIn: Int, bytesOut: Int) {
        let m = Self.methodLabel(method)
        registry.add("anki_sync_requests_total", [m, String(status)])
        registry.observe("anki_sync_request_duration_seconds", [m], seconds)
        registry.add("anki_sync_request_bytes_total", ["in"], Double(bytesIn))
        registry.add("anki_sync_request_bytes_total", ["out"], Double(bytesOut))
    }

    /// One request a worker served.
    func report(_ report: RequestReport, user: String, unixSeconds: Double) {
        request(method: report.method, status: report.status, seconds: Double(report.micros) / 1e6,
                bytesIn: Int(report.bytesIn), bytesOut: Int(report.bytesOut))
        if report.mediaFiles > 0 {
            registry.add("anki_sync_media_files_total", [report.method == "msync/downloadFiles" ? "download" : "upload"],
                         Double(report.mediaFiles))
        }
        guard report.status == 200 else { return }
        switch report.event {
        case .fullUpload: registry.add("anki_sync_full_syncs_total", ["upload"])
        case .fullDownload: registry.add("anki_sync_full_syncs_total", ["download"])
        case .sessionRolledBack: registry.add("anki_sync_user_sessions_rolled_back_total", [user])
        case .normalSync, .none: break
        }
        if [.normalSync, .fullUpload, .fullDownload].contains(report.event) {
            registry.set("anki_sync_user_last_sync_timestamp_seconds", [user], unixSeconds.rounded())
        }
    }

    enum LoginFailure: String { case rejected, throttled, malformed, busy }

    func loginFailed(_ reason: LoginFailure) { registry.add("anki_sync_login_failures_total", [reason.rawValue]) }

    enum WorkerEvent: String { case spawn, crash, restart, idleExit = "idle_exit", backoff }

    func worker(_ user: String, _ event: WorkerEvent) { registry.add("anki_sync_worker_events_total", [user, event.rawValue]) }

    func connectionsClosed(_ reason: String, _ count: Int) {
        registry.add("anki_sync_connections_closed_total", [reason], Double(count))
    }
}
