import Glibc
import Shared

/// Blocking, buffered reads from a client socket, starting with bytes the supervisor already read.
/// Whatever is buffered past the current request is handed back with the connection.
final class SocketReader {
    let fd: Int32
    private(set) var buffer: [UInt8]
    private var start = 0
    static let chunkSize = 64 * 1024

    init(fd: Int32, prefix: [UInt8]) {
        self.fd = fd
        self.buffer = prefix
    }

    var buffered: Int { buffer.count - start }

    /// Bytes read but not consumed (belong to the next request).
    var leftover: [UInt8] { Array(buffer[start...]) }

    enum ReadError: Error, CustomStringConvertible {
        case timeout, closed, system(Int32)
        var description: String {
            switch self {
            case .timeout: return "client stalled"
            case .closed: return "client closed the connection"
            case .system(let e): return String(cString: strerror(e))
            }
        }
    }

    /// Reads more bytes from the socket into the buffer. Returns false at end of stream.
    @discardableResult
    func fill() throws(ReadError) -> Bool {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > Self.chunkSize {
            buffer.removeFirst(start)
            start = 0
        }
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: Self.chunkSize))
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + old, Self.chunkSize, 0) }
        if n < 0 {
            buffer.removeLast(Self.chunkSize)
            let err = errno
            if err == EAGAIN || err == EWOULDBLOCK { throw .timeout }
            if err == ECONNRESET { throw .closed }
            throw .system(err)
        }
        buffer.removeLast(Self.chunkSize - n)
        return n > 0
    }

    /// Reads a complete request head (up to `limit` bytes) and consumes it.
    func readHead(limit: Int) throws -> ArraySlice<UInt8> {
        var scanned = 0
        while true {
            let end = buffer.withUnsafeBytes { raw in
                HTTPHeadParser.headEnd(in: UnsafeRawBufferPointer(rebasing: raw[start...]), searchFrom: scanned)
            }
            if let end {
                let head = buffer[start..<(start + end)]
                start += end
                return head
            }
            scanned = buffered
            if buffered > limit { throw HTTPError(431, "request head too large") }
            guard try fill() else { throw ReadError.closed }
        }
    }

    /// Feeds buffered and then socket bytes to `decoder` until the body ends.
    func readBody(_ decoder: inout BodyDecoder, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        while !decoder.isDone {
            if buffered == 0 {
                guard try fill() else { throw ReadError.closed }
            }
            let used = try buffer.withUnsafeBytes { raw in
                try decoder.feed(UnsafeRawBufferPointer(rebasing: raw[start...]), sink: sink)
            }
            start += used
        }
    }
}
