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
    private let inflater: Inflater
    private let limit: Int
    public private(set) var produced = 0
    public private(set) var ended = false
    private let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    public init(limit: Int) throws {
        self.limit = limit
        guard let inflater = Inflater(.gzip) else {
            out.deallocate()
            throw GzipError.corrupt("cannot start a gzip decoder")
        }
        self.inflater = inflater
    }

    deinit { out.deallocate() }

    public func feed(_ input: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard !ended, input.count > 0 else { return }
        inflater.setInput(input.baseAddress, count: input.count)
        defer { inflater.setInput(nil, count: 0) }
        while true {
            let (rc, got) = inflater.inflate(into: out)
            if got > 0 {
                produced += got
                if produced > limit { throw GzipError.outputLimit(limit) }
                try sink(UnsafeRawBufferPointer(rebasing: out[0..<got]))
            }
            if rc == Z_STREAM_END { ended = true; return }
            if rc == Z_BUF_ERROR || (rc == Z_OK && inflater.inputLeft == 0 && got < out.count) { return }
            guard rc == Z_OK else { throw GzipError.corrupt(inflater.message(rc)) }
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
