import Glibc
import Shared

/// Blocking writes to a client socket (with the socket's send timeout as the stall limit).
struct ResponseWriter {
    let fd: Int32

    struct WriteError: Error, CustomStringConvertible {
        let errno: Int32
        var description: String { "write failed: \(String(cString: strerror(errno)))" }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws(WriteError) {
        var sent = 0
        while sent < bytes.count {
            let n = send(fd, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                throw WriteError(errno: errno)
            }
            sent += n
        }
    }

    func write(_ bytes: [UInt8]) throws(WriteError) {
        var failure: WriteError?
        bytes.withUnsafeBytes { raw in
            do { try self.write(raw) } catch let e as WriteError { failure = e } catch {}
        }
        if let failure { throw failure }
    }

    /// Writes one chunk of a chunked body (nothing for an empty input: that would end the body).
    func writeChunk(_ bytes: UnsafeRawBufferPointer) throws(WriteError) {
        guard bytes.count > 0 else { return }
        try write(Array((String(bytes.count, radix: 16) + "\r\n").utf8))
        try write(bytes)
        try write([13, 10])
    }

    func endChunks() throws(WriteError) { try write(Array("0\r\n\r\n".utf8)) }
}
