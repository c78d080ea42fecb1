import CZstd
import Synchronization

/// zstd contexts and their output buffers, kept between requests. Creating them per request
/// (context tables, window buffers and two 128 KiB output buffers, each zero-filled) was a tenth of
/// a no-op sync's worker CPU. A context is reset before reuse, so nothing of one stream reaches the
/// next; one that grew past `maxRetainedBytes` (a rare large window) is freed instead of kept.
final class ZstdContextCache: Sendable {
    /// A context with its output buffer; owned by one stream at a time.
    final class Entry: @unchecked Sendable {
        let context: OpaquePointer
        var output: [UInt8]
        init(context: OpaquePointer, outputSize: Int) {
            self.context = context
            output = [UInt8](repeating: 0, count: outputSize)
        }
    }

    /// Contexts kept per process (requests of one user rarely overlap).
    static let maxKept = 2
    static let maxRetainedBytes = 4 << 20

    private let kept = Mutex<[Entry]>([])
    private let make: @Sendable () -> Entry
    private let reset: @Sendable (OpaquePointer) -> Void
    private let size: @Sendable (OpaquePointer) -> Int
    private let free: @Sendable (OpaquePointer) -> Void

    init(make: @escaping @Sendable () -> Entry, reset: @escaping @Sendable (OpaquePointer) -> Void,
         size: @escaping @Sendable (OpaquePointer) -> Int, free: @escaping @Sendable (OpaquePointer) -> Void) {
        (self.make, self.reset, self.size, self.free) = (make, reset, size, free)
    }

    func take() -> Entry { kept.withLock { $0.popLast() } ?? make() }

    func give(_ entry: Entry) {
        reset(entry.context)
        let keep = size(entry.context) <= Self.maxRetainedBytes && kept.withLock { list in
            guard list.count < Self.maxKept else { return false }
            list.append(entry)
            return true
        }
        if !keep { free(entry.context) }
    }

    /// Frees every kept context (an idle worker gives its memory back).
    func releaseAll() {
        for entry in kept.withLock({ list in defer { list = [] }; return list }) { free(entry.context) }
    }
}

/// The process's caches of decompression and compression contexts.
public enum ZstdContexts {
    static let decoders = ZstdContextCache(
        make: { .init(context: ZSTD_createDCtx(), outputSize: ZSTD_DStreamOutSize()) },
        reset: { _ = ZSTD_DCtx_reset($0, ZSTD_reset_session_and_parameters) },
        size: { ZSTD_sizeof_DCtx($0) }, free: { ZSTD_freeDCtx($0) })
    static let encoders = ZstdContextCache(
        make: { .init(context: ZSTD_createCCtx(), outputSize: ZSTD_CStreamOutSize()) },
        reset: { _ = ZSTD_CCtx_reset($0, ZSTD_reset_session_and_parameters) },
        size: { ZSTD_sizeof_CCtx($0) }, free: { ZSTD_freeCCtx($0) })

    /// Frees the kept contexts.
    public static func releaseAll() {
        decoders.releaseAll()
        encoders.releaseAll()
    }
}
