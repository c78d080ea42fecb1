import Glibc
import Shared
import Synchronization
import XCTest

final class ThreadsTests: XCTestCase {
    /// Many detached threads increment one counter under `Lock`; every increment is seen, and a
    /// `ConditionLock` wakes the waiter when the last one is done.
    func testDetachedThreadsLockAndCondition() throws {
        final class State: @unchecked Sendable {
            let lock = Lock()
            let done = ConditionLock()
            var counter = 0
            var finished = 0
        }
        let state = State()
        let threads = 16, perThread = 2_000
        for _ in 0..<threads {
            try DetachedThread.start(stackSize: 64 * 1024) {
                for _ in 0..<perThread { state.lock.withLock { state.counter += 1 } }
                state.done.lock()
                state.finished += 1
                state.done.signal()
                state.done.unlock()
            }
        }
        state.done.lock()
        while state.finished < threads { state.done.wait() }
        state.done.unlock()
        XCTAssertEqual(state.lock.withLock { state.counter }, threads * perThread)
    }

    /// `writeAll` then `readToEnd` through a pipe carry every byte, in order, across many reads.
    func testWriteAllAndReadToEnd() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let writer = fds[1]
        try DetachedThread.start {
            try? FileDescriptorIO.writeAll(writer, payload)
            close(writer)
        }
        let got = try FileDescriptorIO.readToEnd(fds[0])
        close(fds[0])
        XCTAssertEqual(got, payload)
        XCTAssertThrowsError(try FileDescriptorIO.writeAll(-1, [1]))
    }
}
