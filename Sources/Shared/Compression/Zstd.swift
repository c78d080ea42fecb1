import CZstd

/// Why a zstd stream was refused.
public enum ZstdError: Error, CustomStringConvertible, Equatable {
    case corrupt(String)
    case truncated
    case outputLimit(Int)
    case trailingData

    public var description: String {
        switch self {
        case .corrupt(let why): return "invalid zstd data: \(why)"
        case .truncated: return "zstd stream ended before its frame was complete"
        case .outputLimit(let limit): return "decompressed data exceeds \(limit) bytes"
        case .trailingData: return "data after the end of the zstd frame"
        }
    }
}

/// Streaming zstd decoder for untrusted input: bounded window and bounded output.
/// Accepts exactly one frame (what every client sends); bytes after it are an error.
public final class ZstdDecompressor {
    private let entry = ZstdContexts.decoders.take()
    private var dctx: OpaquePointer { entry.context }
    private let limit: Int
    public private(set) var totalOut = 0
    private var frameDone = false
    private var sawInput = false

    /// - Parameters:
    ///   - limit: maximum decompressed bytes accepted (`Int.max` for none).
    ///   - windowLogMax: largest window a frame may ask for (25 = 32 MiB; clients use 2 MiB).
    public init(limit: Int = Int.max, windowLogMax: Int32 = 25) {
        self.limit = limit
        ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, windowLogMax)
    }

    deinit { ZstdContexts.decoders.give(entry) }

    /// Decodes `input`, handing decoded bytes to `sink`. Call `finish()` after the last input.
    public func feed(_ input: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard input.count > 0 else { return }
        sawInput = true
        if frameDone { throw ZstdError.trailingData }
        var inBuf = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        let cap = entry.output.count
        while true {
            let (ret, produced): (Int, Int) = entry.output.withUnsafeMutableBytes { out in
                var outBuf = ZSTD_outBuffer(dst: out.baseAddress, size: cap, pos: 0)
                let r = ZSTD_decompressStream(dctx, &outBuf, &inBuf)
                return (r, outBuf.pos)
            }
            if ZSTD_isError(ret) != 0 {
                throw ZstdError.corrupt(String(cString: ZSTD_getErrorName(ret)))
            }
            if produced > 0 {
                totalOut += produced
                if totalOut > limit { throw ZstdError.outputLimit(limit) }
                try entry.output.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) }
            }
            if ret == 0 {
                frameDone = true
                if inBuf.pos < inBuf.size { throw ZstdError.trailingData }
                return
            }
            // More input needed once this input is used up and the output buffer was not filled.
            if inBuf.pos == inBuf.size && produced < cap { return }
        }
    }

    /// Confirms that a whole frame was decoded.
    public func finish() throws {
        if !sawInput { throw ZstdError.corrupt("empty body") }
        if !frameDone { throw ZstdError.truncated }
    }

    /// One-shot decode of a small, fully buffered body.
    public static func decompress(_ data: [UInt8], limit: Int) throws -> [UInt8] {
        let d = ZstdDecompressor(limit: limit)
        var out: [UInt8] = []
        try data.withUnsafeBytes { try d.feed($0) { out.append(contentsOf: $0) } }
        try d.finish()
        return out
    }
}

/// Streaming zstd encoder producing one frame.
public final class ZstdCompressor {
    private let entry = ZstdContexts.encoders.take()
    private var cctx: OpaquePointer { entry.context }

    /// - Parameters:
    ///   - level: compression level (the official server uses the library default, 3).
    ///   - pledgedSize: the exact input size if known; it is then recorded in the frame header.
    public init(level: Int32 = 3, pledgedSize: UInt64? = nil) {
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        if let pledgedSize { ZSTD_CCtx_setPledgedSrcSize(cctx, pledgedSize) }
    }

    deinit { ZstdContexts.encoders.give(entry) }

    public func feed(_ input: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try run(input, end: false, sink: sink)
    }

    public func finish(sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try run(UnsafeRawBufferPointer(start: nil, count: 0), end: true, sink: sink)
    }

    private func run(_ input: UnsafeRawBufferPointer, end: Bool, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var inBuf = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        let cap = entry.output.count
        while true {
            let (ret, produced): (Int, Int) = entry.output.withUnsafeMutableBytes { out in
                var outBuf = ZSTD_outBuffer(dst: out.baseAddress, size: cap, pos: 0)
                let r = ZSTD_compressStream2(cctx, &outBuf, &inBuf, end ? ZSTD_e_end : ZSTD_e_continue)
                return (r, outBuf.pos)
            }
            if ZSTD_isError(ret) != 0 { throw ZstdError.corrupt(String(cString: ZSTD_getErrorName(ret))) }
            if produced > 0 {
                try entry.output.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<produced])) }
            }
            if end ? ret == 0 : inBuf.pos == inBuf.size { return }
        }
    }

    public static func compress(_ data: [UInt8], level: Int32 = 3) -> [UInt8] {
        let c = ZstdCompressor(level: level, pledgedSize: UInt64(data.count))
        var out: [UInt8] = []
        // Compression of in-memory data cannot fail except on allocation failure.
        try? data.withUnsafeBytes { try c.feed($0) { out.append(contentsOf: $0) } }
        try? c.finish { out.append(contentsOf: $0) }
        return out
    }
}
