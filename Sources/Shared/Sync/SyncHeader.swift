
/// The `anki-sync` request header of protocol v11: `{"v":11,"k":hkey,"c":client,"s":session}`.
public struct SyncHeader: Equatable, Sendable {
    public var version: Int
    public var hostKey: String
    public var clientVersion: String
    public var sessionKey: String

    public static let supportedVersions = 8...11

    /// Parses the header value; missing `c`/`s` are tolerated as empty (the official server is stricter).
    public init(parsing value: String) throws(HTTPError) {
        // The shared parser: this runs for every request in both processes, so no Foundation decoder.
        guard case .object(let object)? = try? JSON.parse(Array(value.utf8)) else {
            throw HTTPError(400, "anki-sync header is not a valid JSON object")
        }
        guard case .int(let v)? = object["v"], let version = Int(exactly: v) else {
            throw HTTPError(400, "anki-sync header lacks an integer v")
        }
        guard SyncHeader.supportedVersions.contains(version) else {
            throw HTTPError(400, "unsupported sync version \(version)")
        }
        guard case .string(let k)? = object["k"] else { throw HTTPError(400, "anki-sync header lacks k") }
        let c: String?
        let s: String?
        if case .string(let text)? = object["c"] { c = text } else { c = nil }
        if case .string(let text)? = object["s"] { s = text } else { s = nil }
        self.version = version
        self.hostKey = k
        self.clientVersion = c ?? ""
        self.sessionKey = s ?? ""
    }

    public init(version: Int, hostKey: String, clientVersion: String, sessionKey: String) {
        self.version = version
        self.hostKey = hostKey
        self.clientVersion = clientVersion
        self.sessionKey = sessionKey
    }
}
