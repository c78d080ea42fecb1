import CShim
import Shared

/// A thin epoll wrapper: descriptors are registered with a caller-chosen 64-bit token.
struct Poller {
    let fd: Int32

    static let readable: UInt32 = 0x001
    static let writable: UInt32 = 0x004
    static let error: UInt32 = 0x008
    static let hangup: UInt32 = 0x010
    static let peerClosed: UInt32 = 0x2000

    init() throws(SystemError) {
        fd = cshim_epoll_create()
        guard fd >= 0 else { throw SystemError("epoll_create1") }
    }

    func add(_ descriptor: Int32, events: UInt32, token: UInt64) {
        _ = cshim_epoll_ctl(fd, cshim_epoll_op_add(), descriptor, events, token)
    }

    func modify(_ descriptor: Int32, events: UInt32, token: UInt64) {
        _ = cshim_epoll_ctl(fd, cshim_epoll_op_mod(), descriptor, events, token)
    }

    /// Must be called before a descriptor whose open file lives on elsewhere (passed to a worker) is closed:
    /// epoll registrations belong to the open file, not to the descriptor number.
    func remove(_ descriptor: Int32) {
        _ = cshim_epoll_ctl(fd, cshim_epoll_op_del(), descriptor, 0, 0)
    }

    func wait(timeoutMillis: Int32, into tokens: inout [UInt64], _ events: inout [UInt32]) -> Int {
        let n = tokens.withUnsafeMutableBufferPointer { t in
            events.withUnsafeMutableBufferPointer { e in
                cshim_epoll_wait(fd, t.baseAddress, e.baseAddress, Int32(t.count), timeoutMillis)
            }
        }
        return Int(max(0, n))
    }
}
