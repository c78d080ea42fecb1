/// Where a request goes: collection sync, media sync, health, or nowhere.
public enum SyncRoute: Equatable, Sendable {
    case health
    case sync(SyncMethod)
    case media(MediaMethod)

    public struct Failure: Error, Equatable {
        public let status: Int
        public let reason: String
    }

    /// Resolves a request. Paths may carry a prefix (`/anki/sync/meta`, `/anki/health`) so the server
    /// works behind a reverse proxy that keeps a subpath; the last segments decide.
    public static func resolve(method: String, path: Substring) throws(Failure) -> SyncRoute {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        if segments.last == "health" {
            guard method == "GET" || method == "HEAD" else { throw Failure(status: 405, reason: "use GET") }
            return .health
        }
        guard segments.count >= 3 else { throw Failure(status: 404, reason: "not found") }
        let area = segments[segments.count - 2]
        let name = String(segments[segments.count - 1])
        switch area {
        case "sync":
            guard let m = SyncMethod(rawValue: name) else {
                throw Failure(status: 400, reason: "unknown sync method '\(name)'; expected one of \(SyncMethod.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard method == "POST" else { throw Failure(status: 405, reason: "use POST") }
            return .sync(m)
        case "msync":
            guard let m = MediaMethod(rawValue: name) else {
                throw Failure(status: 400, reason: "unknown media method '\(name)'; expected one of \(MediaMethod.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard method == "POST" || (m == .begin && method == "GET") else { throw Failure(status: 405, reason: "use POST") }
            return .media(m)
        default:
            throw Failure(status: 404, reason: "not found")
        }
    }
}

public enum SyncMethod: String, CaseIterable, Sendable {
    case hostKey, meta, start, applyGraves, applyChanges, chunk, applyChunk, sanityCheck2, finish, abort, upload, download
}

public enum MediaMethod: String, CaseIterable, Sendable {
    case begin, mediaChanges, uploadChanges, downloadFiles, mediaSanity
}
