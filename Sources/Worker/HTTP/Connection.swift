import Glibc
import Shared

/// Why bytes could not move on a client connection.
enum ConnectionError: Error, CustomStringConvertible {
    /// Nothing moved for the stall limit (the socket's receive/send timeout).
    case timeout
    case closed
    case system(Int32)

    var description: String {
        switch self {
        case .timeout: return "client stalled"
        case .closed: return "client closed the connection"
        case .system(let e): return String(cString: strerror(e))
        }
    }
}

/// The byte stream one request arrives on and its response leaves by: a client socket in the
/// worker, an in-memory buffer in tests. Used from one thread at a time.
protocol Connection: AnyObject {
    /// Reads at most `buffer.count` bytes; 0 means the peer ended the stream.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(ConnectionError) -> Int
    /// Writes every byte.
    func send(_ bytes: UnsafeRawBufferPointer) throws(ConnectionError)
}

/// A connected client socket (blocking, with the stall limit as its timeouts).
final class SocketConnection: Connection {
    let fd: Int32

    init(fd: Int32) { self.fd = fd }

    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(ConnectionError) -> Int {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n >= 0 { return n }
            let err = errno
            if err == EINTR { continue }
            throw Self.classify(err)
        }
    }

    func send(_ bytes: UnsafeRawBufferPointer) throws(ConnectionError) {
        // SIGPIPE is ignored in the worker, so a vanished peer is an EPIPE here.
        do { try FileDescriptorIO.writeAll(fd, bytes) } catch { throw Self.classify(error.code) }
    }

    static func classify(_ err: Int32) -> ConnectionError {
        if err == EAGAIN || err == EWOULDBLOCK { return .timeout }
        if err == ECONNRESET || err == EPIPE { return .closed }
        return .system(err)
    }
}

/// A connection whose request bytes are given up front and whose response bytes are kept:
/// handlers run through it without a socket (tests).
final class MemoryConnection: Connection {
    private var input: [UInt8]
    private var readOffset = 0
    private(set) var output: [UInt8] = []
    /// At most this many bytes per `receive`, to exercise reads that arrive in pieces.
    let maxRead: Int

    init(input: [UInt8], maxRead: Int = .max) {
        self.input = input
        self.maxRead = maxRead
    }

    /// Input not read yet.
    var unread: [UInt8] { Array(input[readOffset...]) }

    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(ConnectionError) -> Int {
        let n = min(buffer.count, maxRead, input.count - readOffset)
        guard n > 0 else { return 0 }
        input.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[readOffset..<(readOffset + n)])) }
        readOffset += n
        return n
    }

    func send(_ bytes: UnsafeRawBufferPointer) throws(ConnectionError) {
        output.append(contentsOf: bytes)
    }
}
