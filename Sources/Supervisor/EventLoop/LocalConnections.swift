import CShim
import Glibc

/// Short-lived local connections (control clients, metrics scrapers), each under its own epoll
/// token from a range that starts at `base`.
struct LocalConnections<Value> {
    let base: UInt64
    private var next: UInt64 = 0
    private(set) var byToken: [UInt64: Value] = [:]

    init(base: UInt64) { self.base = base }

    /// Accepts every waiting connection, watches it for reading and keeps what `make` returns.
    mutating func acceptAll(from listenFD: Int32, poller: Poller, make: (Int32) -> Value) {
        while true {
            let fd = cshim_accept(listenFD)
            if fd < 0 { return }
            let token = base + next
            next += 1
            byToken[token] = make(fd)
            poller.add(fd, events: Poller.readable, token: token)
        }
    }

    subscript(token: UInt64) -> Value? { byToken[token] }

    @discardableResult
    mutating func remove(_ token: UInt64) -> Value? { byToken.removeValue(forKey: token) }
}
