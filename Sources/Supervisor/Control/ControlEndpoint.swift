import CShim
import Glibc
import Shared

/// The listening end of the control socket, and a blocking client for the subcommands.
enum ControlEndpoint {
    /// Binds the control socket (mode 0600). Refuses when another live server already answers on it:
    /// two servers on one SYNC_BASE would write the same collections.
    static func listen(path: String) throws(SystemError) -> Int32 {
        if let fd = try? connect(path: path, timeoutSeconds: 1) {
            close(fd)
            throw SystemError("another anki-sync-server is already running on this SYNC_BASE (\(path))", code: EADDRINUSE)
        }
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket(AF_UNIX)") }
        var addr = try address(path)
        let oldMask = umask(0o177)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(oldMask)
        guard rc == 0 else {
            let err = SystemError("bind \(path)")
            close(fd)
            throw err
        }
        chmod(path, 0o600)
        guard Glibc.listen(fd, 16) == 0 else {
            let err = SystemError("listen \(path)")
            close(fd)
            throw err
        }
        return fd
    }

    static func connect(path: String, timeoutSeconds: Int) throws(SystemError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket(AF_UNIX)") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = try address(path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let err = SystemError("connect \(path)")
            close(fd)
            throw err
        }
        return fd
    }

    static func address(_ path: String) throws(SystemError) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { throw SystemError("control socket path too long: \(path)", code: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return addr
    }

    /// Sends one request and waits for the reply line (restarts may take up to the worker's grace time).
    static func request(_ request: ControlRequest, base: String, timeoutSeconds: Int = 75) throws -> ControlReply {
        let fd = try connect(path: ControlSocket.path(base: base), timeoutSeconds: timeoutSeconds)
        defer { close(fd) }
        let line = request.encodedLine()
        guard line.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == line.count else {
            throw SystemError("send to the control socket")
        }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 { throw SystemError("read from the control socket") }
            if n == 0 { break }
            reply.append(contentsOf: chunk[0..<n])
            if reply.last == 10 { break }
        }
        return try ControlCoding.decode(ControlReply.self, from: reply)
    }
}

/// A control client connection while its request line arrives and is answered.
final class ControlConnection {
    let fd: Int32
    var buffer: [UInt8] = []
    let opened = WallClock.monotonic()

    init(fd: Int32) { self.fd = fd }

    func reply(_ reply: ControlReply) {
        let bytes = reply.encodedLine()
        // Replies are small; the socket buffer takes them whole, so one non-blocking send suffices.
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        close(fd)
    }
}
