import CShim
import Glibc
import Shared
import Storage

/// The worker's resource limits: descriptors, file size, no core dumps (which would write user
/// data outside the folder).
struct ResourceLimits: Equatable {
    let maxOpenFiles: UInt64
    let maxFileBytes: UInt64

    /// Descriptors beyond one per client connection: SQLite files, media files, the channel.
    static let spareDescriptors = 64
    /// A collection may grow past the upload limit through normal syncs; a file this many times
    /// the decompressed-upload limit is refused (EFBIG) instead of filling the disk.
    static let fileSizeFactor = 4

    /// `maxConnections`: client connections the worker can hold at once (serving and waiting,
    /// SYNC_WORKER_MAX_REQUESTS and its queue); more are refused before they reach it.
    init(maxConnections: Int, maxPayloadMegs: Int) {
        maxOpenFiles = UInt64(maxConnections + Self.spareDescriptors)
        let upload = UInt64(ServerConfig.maxDecompressedBytes(megs: maxPayloadMegs))
        maxFileBytes = max(upload, UInt64(MediaLimits.maxFileBytes)) * UInt64(Self.fileSizeFactor)
    }

    /// Applies the limits. A write past the size limit then fails with EFBIG rather than
    /// killing the process with SIGXFSZ.
    func apply() throws(SandboxError) {
        signal(SIGXFSZ, SIG_IGN)
        let rc = cshim_set_worker_rlimits(maxOpenFiles, maxFileBytes)
        guard rc == 0 else { throw SandboxError(step: "setrlimit", code: rc) }
    }
}
