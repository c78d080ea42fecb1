import CZlib

/// One zlib inflate stream (raw deflate for zip members, or gzip).
///
/// zlib keeps a pointer back to its `z_stream` and checks it on every call, so the struct lives
/// at one allocated address for the stream's whole life, never in a Swift property or local.
final class Inflater {
    enum Format {
        /// Raw deflate data, no header (zip members).
        case raw
        /// A gzip member: header, deflate data, trailer.
        case gzip
    }

    private let stream: UnsafeMutablePointer<z_stream>

    /// Nil if zlib cannot start a decoder (out of memory).
    init?(_ format: Format) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let bits = format == .raw ? -MAX_WBITS : MAX_WBITS + 16
        guard inflateInit2_(stream, bits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Input bytes not yet consumed.
    var inputLeft: Int { Int(stream.pointee.avail_in) }

    /// The next input (at most 4 GiB - 1 bytes); it must stay valid until consumed or replaced.
    func setInput(_ start: UnsafeRawPointer?, count: Int) {
        stream.pointee.next_in = start.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: UInt8.self)) }
        stream.pointee.avail_in = UInt32(count)
    }

    /// Inflates into `out`; returns zlib's status and the number of bytes written to `out`.
    func inflate(into out: UnsafeMutableRawBufferPointer) -> (status: Int32, produced: Int) {
        stream.pointee.next_out = out.baseAddress?.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_out = UInt32(out.count)
        let status = CZlib.inflate(stream, Z_NO_FLUSH)
        let produced = out.count - Int(stream.pointee.avail_out)
        stream.pointee.next_out = nil
        stream.pointee.avail_out = 0
        return (status, produced)
    }

    /// zlib's message for the last error, or the status code.
    func message(_ status: Int32) -> String {
        stream.pointee.msg.map { String(cString: $0) } ?? "error \(status)"
    }
}
