import FoundationEssentials

/// The `anki-sync` request header of protocol v11: `{"v":11,"k":hkey,"c":client,"s":session}`.
public struct SyncHeader: Equatable, Sendable {
    public var version: Int
    public var hostKey: String
    public var clientVersion: String
    public var sessionKey: String

    public static let supportedVersions = 8...11

    /// Parses the header value; missing `c`/`s` are tolerated as empty (the official server is stricter).
    public init(parsing value: String) throws(HTTPError) {
        struct Raw: Decodable {
            var v: Int?
            var k: String?
            var c: String?
            var s: String?
        }
        guard let raw = try? JSONDecoder().decode(Raw.self, from: Data(value.utf8)) else {
            throw HTTPError(400, "anki-sync header is not a valid JSON object")
        }
        guard let version = raw.v else { throw HTTPError(400, "anki-sync header lacks an integer v") }
        guard SyncHeader.supportedVersions.contains(version) else {
            throw HTTPError(400, "unsupported sync version \(version)")
        }
        guard let k = raw.k else { throw HTTPError(400, "anki-sync header lacks k") }
        self.version = version
        self.hostKey = k
        self.clientVersion = raw.c ?? ""
        self.sessionKey = raw.s ?? ""
    }

    public init(version: Int, hostKey: String, clientVersion: String, sessionKey: String) {
        self.version = version
        self.hostKey = hostKey
        self.clientVersion = clientVersion
        self.sessionKey = sessionKey
    }
}
