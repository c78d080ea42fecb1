import CZlib

public enum GzipError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The data inflates to more than the limit (a "gzip bomb" or simply too large).
    case outputLimit(Int)
    case corrupt(String)
    case truncated

    public var description: String {
        switch self {
        case .outputLimit(let n): return "gzip data inflates to more than the limit of \(n) bytes"
        case .corrupt(let why): return "data is not valid gzip (\(why))"
        case .truncated: return "gzip data ends before its end marker"
        }
    }
}

/// Streaming gzip decoder with an output limit (legacy `data` fields when `c` is not "0").
/// Only the first gzip member is read, as the reference does; bytes after it are ignored.
public final class GzipInflater {
    private var stream = z_stream()
    private let limit: Int
    public private(set) var produced = 0
    public private(set) var ended = false
    private var out: [UInt8]

    public init(limit: Int) throws {
        self.limit = limit
        out = [UInt8](repeating: 0, count: 64 * 1024)
        guard inflateInit2_(&stream, MAX_WBITS + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw GzipError.corrupt("cannot start a gzip decoder")
        }
    }

    deinit { inflateEnd(&stream) }

    public func feed(_ input: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !ended, input.count > 0 else { return }
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(input.count)
        defer { stream.next_in = nil; stream.avail_in = 0 }
        while true {
            let outCap = out.count
            let (rc, got): (Int32, Int) = out.withUnsafeMutableBytes { buf in
                stream.next_out = buf.baseAddress!.assumingMemoryBound(to: UInt8.self)
                stream.avail_out = UInt32(outCap)
                let rc = CZlib.inflate(&stream, Z_NO_FLUSH)
                return (rc, outCap - Int(stream.avail_out))
            }
            if got > 0 {
                produced += got
                if produced > limit { throw GzipError.outputLimit(limit) }
                try out.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
            }
            if rc == Z_STREAM_END { ended = true; return }
            if rc == Z_BUF_ERROR || (rc == Z_OK && stream.avail_in == 0 && stream.avail_out > 0) { return }
            guard rc == Z_OK else {
                throw GzipError.corrupt(stream.msg.map { String(cString: $0) } ?? "error \(rc)")
            }
        }
    }

    public func finish() throws {
        guard ended else { throw GzipError.truncated }
    }

    /// Inflates a small buffer whole.
    public static func inflate(_ data: [UInt8], limit: Int) throws -> [UInt8] {
        let g = try GzipInflater(limit: limit)
        var result: [UInt8] = []
        try data.withUnsafeBytes { try g.feed($0) { result.append(contentsOf: $0) } }
        try g.finish()
        return result
    }
}
