/// Where a request goes: collection sync, media sync, health, or nowhere.
public enum SyncRoute: Equatable, Sendable {
    case health
    case sync(SyncMethod)
    case media(MediaMethod)

    /// Resolves a request. Paths may carry a prefix (`/anki/sync/meta`, `/anki/health`) so the server
    /// works behind a reverse proxy that keeps a subpath; the last segments decide.
    public static func resolve(method: String, path: Substring) throws(HTTPError) -> SyncRoute {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        if segments.last == "health" {
            guard method == "GET" || method == "HEAD" else { throw HTTPError(405, "use GET") }
            return .health
        }
        guard segments.count >= 3 else { throw HTTPError(404, "not found") }
        let area = segments[segments.count - 2]
        let name = String(segments[segments.count - 1])
        switch area {
        case "sync":
            guard let m = SyncMethod(rawValue: name) else {
                throw HTTPError(400, "unknown sync method '\(name)'; expected one of \(SyncMethod.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard method == "POST" else { throw HTTPError(405, "use POST") }
            return .sync(m)
        case "msync":
            guard let m = MediaMethod(rawValue: name) else {
                throw HTTPError(400, "unknown media method '\(name)'; expected one of \(MediaMethod.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard method == "POST" || (m == .begin && method == "GET") else { throw HTTPError(405, "use POST") }
            return .media(m)
        default:
            throw HTTPError(404, "not found")
        }
    }
}

extension SyncRoute {
    /// The name logs use: `meta`, `msync/begin`, `health`.
    public var methodName: String {
        switch self {
        case .sync(let m): return m.rawValue
        case .media(let m): return "msync/" + m.rawValue
        case .health: return "health"
        }
    }
}

public enum SyncMethod: String, CaseIterable, Sendable {
    case hostKey, meta, start, applyGraves, applyChanges, chunk, applyChunk, sanityCheck2, finish, abort, upload, download
}

public enum MediaMethod: String, CaseIterable, Sendable {
    case begin, mediaChanges, uploadChanges, downloadFiles, mediaSanity
}
