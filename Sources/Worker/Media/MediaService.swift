import Shared

/// The user's media store (`media/`, `media.db`). Media sync is not served yet.
final class MediaService: Sendable {
    let folder: String

    init(folder: String) {
        self.folder = folder
    }

    /// The last media usn issued (0 until media sync exists).
    func currentUsn() throws -> Int64 { 0 }
}

/// `/msync/*` methods.
enum MediaHandlers {
    static func handle(_ method: MediaMethod, _ exchange: SyncExchange, context: WorkerContext) throws {
        throw SyncFailure(400, "media method \(method.rawValue) is not supported by this server yet")
    }
}
