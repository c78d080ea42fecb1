import Shared

/// How large a decompressed request body may be, per method (README "Limits"). Methods that
/// carry a few fields never need more than `smallBodyBytes`, so they are not buffered up to the
/// payload limit; methods that carry objects keep the official limit (3 × MAX_SYNC_PAYLOAD_MEGS MiB).
enum RequestLimits {
    static let smallBodyBytes = 64 * 1024

    static func bodyLimit(_ method: SyncMethod, payloadLimit: Int) -> Int {
        switch method {
        case .hostKey, .meta, .abort, .finish, .download, .chunk, .sanityCheck2:
            return smallBodyBytes
        // `start` may still carry the client's graves (older clients send them there).
        case .start, .applyGraves, .applyChanges, .applyChunk, .upload:
            return payloadLimit
        }
    }
}
