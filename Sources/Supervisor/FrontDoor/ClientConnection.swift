import Glibc
import Shared

/// A client connection while the supervisor owns it: between requests, while it reads a request
/// head, and while it answers requests it serves itself (health, login, refusals). While a worker
/// holds the socket, this object waits in the pool with the bytes read so far.
final class ClientConnection {
    enum State {
        /// Waiting for (the rest of) a request head.
        case readingHead
        /// Reading a login body the supervisor verifies itself.
        case readingLoginBody(head: HTTPRequestHead, headLength: Int, decoder: BodyDecoder, body: [UInt8])
        /// Reading a legacy multipart form far enough to find its host key (the bytes stay in
        /// `buffer`, since the worker must receive all of them); for a login, all of it.
        case readingLegacyForm(head: HTTPRequestHead, headLength: Int, scanner: LegacyFormScanner, login: Bool, data: [UInt8])
        /// A login is being verified on a verifier thread (or its answer is being held back).
        case verifying
        /// A response is being written; then the connection closes or reads the next head.
        case writing
    }

    let id: UInt64
    let fd: Int32
    /// The address that connected (for login throttling and logs).
    let peer: String
    var state: State = .readingHead
    /// No request has been read whole yet: the head timer runs from accept, not from the first byte.
    var fresh: Bool
    /// Bytes received and not yet consumed by a request.
    var buffer: [UInt8]
    /// How much of `buffer` the head scanner has already searched.
    var scanned = 0
    var outbound: [UInt8] = []
    var outboundSent = 0
    var closeAfterWrite = false
    /// Monotonic time of the last byte moved, and of the first byte of the current head.
    var lastActivity: Double
    var headStarted: Double?
    var sawEOF = false
    /// The epoll events currently registered for this connection.
    var interest: UInt32 = 0x001 | 0x2000
    /// The request being answered by the supervisor, for the log line.
    var pending: PendingLog?
    /// The login being verified came as a legacy form: answer it uncompressed.
    var legacyLogin = false
    /// The address a login is throttled and logged under (SYNC_IP_HEADER may name another).
    var loginPeer: String?
    /// The client address of the request being handed to a worker (SYNC_IP_HEADER applied).
    var requestPeer: String?

    struct PendingLog {
        var method: String
        var path: String
        var user: String
        var client: String
        var started: Double
        var bytesIn: Int
    }

    init(id: UInt64, fd: Int32, peer: String, fresh: Bool, buffer: [UInt8] = [], now: Double) {
        self.id = id
        self.fd = fd
        self.peer = peer
        self.fresh = fresh
        self.buffer = buffer
        self.lastActivity = now
        if fresh || !buffer.isEmpty { headStarted = now }
    }

    /// Waiting for a request with nothing of it read: never sent a byte, or idle between requests.
    /// These are the connections closed first when the table is full.
    var isSilent: Bool {
        if case .readingHead = state, buffer.isEmpty { return true }
        return false
    }

    /// Drops `count` consumed bytes from the front of the buffer.
    func consume(_ count: Int) {
        buffer.removeFirst(min(count, buffer.count))
        scanned = 0
        fresh = false
        headStarted = buffer.isEmpty ? nil : WallClock.monotonic()
    }

    enum ReadResult { case data, wouldBlock, eof, error }

    /// Reads what is available, without letting the buffer grow past `cap`.
    func readAvailable(cap: Int) -> ReadResult {
        let room = cap - buffer.count
        guard room > 0 else { return .wouldBlock }
        var chunk = [UInt8](repeating: 0, count: min(room, 64 * 1024))
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            buffer.append(contentsOf: chunk[0..<n])
            lastActivity = WallClock.monotonic()
            if headStarted == nil { headStarted = lastActivity }
            return .data
        }
        if n == 0 { sawEOF = true; return .eof }
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? .wouldBlock : .error
    }

    enum FlushResult { case done, pending, error }

    /// Writes as much pending output as the socket takes.
    func flush() -> FlushResult {
        while outboundSent < outbound.count {
            let n = outbound.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + outboundSent, raw.count - outboundSent, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                outboundSent += n
                lastActivity = WallClock.monotonic()
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                return .pending
            } else {
                return .error
            }
        }
        outbound = []
        outboundSent = 0
        return .done
    }
}
