import Glibc
import Shared

/// Opens the non-blocking listening socket on SYNC_HOST:SYNC_PORT (IPv4 or IPv6).
enum Listener {
    static func open(host: String, port: Int, backlog: Int32 = 511) throws(SystemError) -> Int32 {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let first = result else {
            throw SystemError("resolve SYNC_HOST '\(host)': \(String(cString: gai_strerror(rc)))", code: EINVAL)
        }
        defer { freeaddrinfo(result) }
        var lastError = SystemError("bind", code: EADDRNOTAVAIL)
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            cursor = info.pointee.ai_next
            let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
            let fd = socket(info.pointee.ai_family, type, 0)
            if fd < 0 { lastError = SystemError("socket"); continue }
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if info.pointee.ai_family == AF_INET6 {
                var zero: Int32 = 0
                _ = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &zero, socklen_t(MemoryLayout<Int32>.size))
            }
            if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
                lastError = SystemError("bind \(host):\(port)")
                close(fd)
                continue
            }
            if listen(fd, backlog) != 0 {
                lastError = SystemError("listen")
                close(fd)
                continue
            }
            return fd
        }
        throw lastError
    }
}
