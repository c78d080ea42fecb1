/// Worker → supervisor after every request a worker served: what the metrics and the per-device
/// list need. Fixed binary layout (it is sent for every request).
public struct RequestReport: Equatable, Sendable {
    /// What a request did, beyond its method and status.
    public enum Event: UInt8, Sendable {
        case none = 0
        /// A normal sync finished (`finish` committed).
        case normalSync
        /// A full upload replaced the collection.
        case fullUpload
        /// A full download was sent whole.
        case fullDownload
        /// A sync session was rolled back (`abort`).
        case sessionRolledBack
    }

    /// The connection the request came on (the supervisor knows its address).
    public var connectionID: UInt64
    /// The protocol method (`SyncRoute.methodName`: a fixed set).
    public var method: String
    public var status: Int
    public var micros: UInt64
    public var bytesIn: UInt64
    public var bytesOut: UInt64
    public var event: Event
    /// Media files stored (`uploadChanges`) or sent (`downloadFiles`) by this request.
    public var mediaFiles: Int
    /// The client version as sent (`c` of the anki-sync header), at most `maxClientBytes`.
    public var client: String

    public static let maxClientBytes = 128
    static let maxMethodBytes = 64

    public init(connectionID: UInt64, method: String, status: Int, micros: UInt64, bytesIn: UInt64, bytesOut: UInt64,
                event: Event = .none, mediaFiles: Int = 0, client: String) {
        self.connectionID = connectionID
        self.method = method
        self.status = status
        self.micros = micros
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.event = event
        self.mediaFiles = mediaFiles
        self.client = Self.truncated(client, maxBytes: Self.maxClientBytes)
    }

    /// The longest prefix of whole scalars within `maxBytes` of UTF-8 (never a cut character).
    static func truncated(_ text: String, maxBytes: Int) -> String {
        guard text.utf8.count > maxBytes else { return text }
        var out = String.UnicodeScalarView()
        var bytes = 0
        for scalar in text.unicodeScalars {
            bytes += String(scalar).utf8.count
            if bytes > maxBytes { break }
            out.append(scalar)
        }
        return String(out)
    }

    func encode() -> [UInt8] {
        let method = Array(Self.truncated(self.method, maxBytes: Self.maxMethodBytes).utf8)
        let client = Array(self.client.utf8)
        return ChannelMessage.u64(connectionID) + ChannelMessage.u64(UInt64(max(0, status))) + ChannelMessage.u64(micros)
            + ChannelMessage.u64(bytesIn) + ChannelMessage.u64(bytesOut) + [event.rawValue]
            + ChannelMessage.u64(UInt64(max(0, mediaFiles))) + [UInt8(method.count)] + method + [UInt8(client.count)] + client
    }

    static let fixedSize = 8 * 5 + 1 + 8

    static func decode(_ payload: ArraySlice<UInt8>) -> RequestReport? {
        guard payload.count >= fixedSize + 2 else { return nil }
        let start = payload.startIndex
        func u64(_ i: Int) -> UInt64 { ChannelMessage.readU64(payload, at: i) }
        guard let event = Event(rawValue: payload[start + 40]), u64(8) <= 999, u64(41) <= UInt64(Int32.max) else { return nil }
        var cursor = start + fixedSize
        // Valid UTF-8 within its limit, or the message is refused (so decoding never alters it).
        func text(maxBytes: Int) -> String? {
            guard cursor < payload.endIndex else { return nil }
            let count = Int(payload[cursor])
            guard count <= maxBytes, cursor + 1 + count <= payload.endIndex else { return nil }
            defer { cursor += 1 + count }
            return String(validating: payload[(cursor + 1)..<(cursor + 1 + count)], as: UTF8.self)
        }
        guard let method = text(maxBytes: maxMethodBytes), let client = text(maxBytes: maxClientBytes),
              cursor == payload.endIndex else { return nil }
        return RequestReport(connectionID: u64(0), method: method, status: Int(u64(8)), micros: u64(16), bytesIn: u64(24),
                             bytesOut: u64(32), event: event, mediaFiles: Int(u64(41)), client: client)
    }
}
