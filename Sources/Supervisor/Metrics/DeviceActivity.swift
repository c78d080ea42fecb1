import FoundationEssentials
import Glibc
import Shared

/// The last few devices seen per user — client version as sent, address, last sync, its outcome —
/// kept in memory and in `$SYNC_BASE/.anki-sync-server.devices.json` (written at most every few
/// seconds, and at stop), so `status` shows them across restarts. The protocol has no device id:
/// a device is a (client version, address) pair.
final class DeviceActivity {
    typealias Device = DeviceStatus

    /// Devices kept per user; the least recently seen goes first.
    static let perUser = 5
    static let fileName = ".anki-sync-server.devices.json"

    let path: String
    private(set) var devices: [String: [Device]] = [:]
    private var dirty = false
    private let log: Log

    init(base: String, log: Log) {
        path = FilePath.join(base, Self.fileName)
        self.log = log
        if let data = try? Data(contentsOf: URL(fileURLWithPath: path)),
           let saved = try? JSONDecoder().decode([String: [Device]].self, from: data) {
            devices = saved.mapValues { Array($0.prefix(Self.perUser)) }
        }
    }

    /// Records a request from `client` at `address`; `outcome` names how a sync ended, if it did.
    func saw(user: String, client: String, address: String, outcome: String?, nowMillis: Int64) {
        guard !client.isEmpty else { return }
        var list = devices[user] ?? []
        var device = Device(client: client, address: address, lastSeenMillis: nowMillis, lastOutcome: "-")
        if let i = list.firstIndex(where: { $0.client == client && $0.address == address }) {
            device = list.remove(at: i)
            device.lastSeenMillis = nowMillis
        }
        if let outcome { device.lastOutcome = outcome }
        list.insert(device, at: 0)
        devices[user] = Array(list.prefix(Self.perUser))
        dirty = true
    }

    /// Writes the file if anything changed (atomically: temporary file, then rename).
    func save() {
        guard dirty else { return }
        dirty = false
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard let data = try? encoder.encode(devices) else { return }
        let temporary = path + ".tmp"
        do {
            try data.write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else { throw SystemError("rename \(temporary)") }
        } catch {
            log.warn("cannot save the device list", ["path": .string(path), "error": .string("\(error)")])
        }
    }

    /// The outcome a report stands for, if the request ended a sync.
    static func outcome(of report: RequestReport) -> String? {
        if report.status >= 400, report.method != "meta" { return "error" }
        switch report.event {
        case .normalSync: return "normal"
        case .fullUpload: return "full upload"
        case .fullDownload: return "full download"
        case .sessionRolledBack: return "error"
        case .none: return nil
        }
    }
}
