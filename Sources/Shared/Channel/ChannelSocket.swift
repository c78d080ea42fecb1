import CShim
import Glibc

/// One end of a supervisor ⇄ worker channel: a SOCK_SEQPACKET socket, so one send is one message
/// and a passed descriptor always arrives with the message it belongs to.
public struct ChannelSocket: Sendable {
    public let fd: Int32

    public init(fd: Int32) { self.fd = fd }

    /// A connected pair (close-on-exec on both ends); buffers enlarged so a message never splits.
    public static func pair() throws(SystemError) -> (ChannelSocket, ChannelSocket) {
        var fds: [Int32] = [-1, -1]
        let type = Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { throw SystemError("socketpair") }
        for fd in fds {
            var size: Int32 = 1 << 20
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        return (ChannelSocket(fd: fds[0]), ChannelSocket(fd: fds[1]))
    }

    public enum SendResult: Equatable { case sent, wouldBlock, closed }

    /// Sends one message, with `passing` as SCM_RIGHTS if >= 0. Never raises SIGPIPE.
    public func send(_ message: ChannelMessage, passing descriptor: Int32 = -1) throws(SystemError) -> SendResult {
        let bytes = message.encode()
        guard bytes.count <= ChannelMessage.maxSize else { throw SystemError("channel message too large", code: EMSGSIZE) }
        let n = bytes.withUnsafeBytes { cshim_send_fd(fd, descriptor, $0.baseAddress, $0.count) }
        if n >= 0 { return .sent }
        let err = cshim_errno()
        if err == EAGAIN || err == EWOULDBLOCK { return .wouldBlock }
        if err == EPIPE || err == ECONNRESET || err == ENOTCONN { return .closed }
        throw SystemError("sendmsg", code: err)
    }

    public enum ReceiveResult {
        case message(ChannelMessage, descriptor: Int32)
        case wouldBlock
        case closed
    }

    /// Receives one message. A descriptor that arrives with a malformed message is closed.
    public func receive() throws -> ReceiveResult {
        var buffer = [UInt8](repeating: 0, count: ChannelMessage.maxSize + 16)
        var descriptor: Int32 = -1
        var truncated: Int32 = 0
        let n = buffer.withUnsafeMutableBytes { cshim_recv_fd(fd, &descriptor, $0.baseAddress, $0.count, &truncated) }
        if n == 0 { return .closed }
        if n < 0 {
            let err = cshim_errno()
            if err == EAGAIN || err == EWOULDBLOCK { return .wouldBlock }
            if err == ECONNRESET { return .closed }
            throw SystemError("recvmsg", code: err)
        }
        do {
            if truncated != 0 { throw ChannelMessage.DecodeError(description: "truncated channel message") }
            return .message(try ChannelMessage.decode(buffer[0..<n]), descriptor: descriptor)
        } catch {
            if descriptor >= 0 { close(descriptor) }
            throw error
        }
    }
}
