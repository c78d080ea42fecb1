import Dispatch
import Foundation
import Shared
import XCTest
@testable import Worker

/// The per-user bound on request threads: running, waiting, refused.
final class RequestThreadsTests: XCTestCase {
    func testRunsAtMostMaxThreadsQueuesThenRefuses() {
        let threads = RequestThreads(maxThreads: 2, maxWaiting: 3, keepIdle: 1, stackSize: 1 << 20)
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        var accepted = 0
        for _ in 0..<8 {
            if threads.submit({ started.signal(); release.wait(); done.signal() }) { accepted += 1 }
        }
        XCTAssertEqual(accepted, 5, "2 running + 3 waiting")
        for _ in 0..<2 { XCTAssertEqual(started.wait(timeout: .now() + 10), .success) }
        XCTAssertEqual(started.wait(timeout: .now() + 0.2), .timedOut, "a third job started while two ran")
        XCTAssertEqual(threads.threadCount, 2)
        XCTAssertTrue(threads.hasWaiting, "three jobs wait: a held connection must give way")
        for _ in 0..<5 { release.signal() }
        for _ in 0..<5 { XCTAssertEqual(done.wait(timeout: .now() + 10), .success) }
        XCTAssertFalse(threads.hasWaiting)
        // Every job ran; with the work done, new jobs are accepted again.
        XCTAssertTrue(threads.submit({ done.signal() }))
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertLessThanOrEqual(threads.threadCount, 2)
    }

    func testIdleThreadsAreReused() {
        let threads = RequestThreads(maxThreads: 4, maxWaiting: 0, keepIdle: 4, stackSize: 1 << 20)
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<20 {
            XCTAssertTrue(threads.submit({ done.signal() }))
            XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
            let deadline = Date().addingTimeInterval(10)
            while threads.idleCount == 0 && Date() < deadline { usleep(1000) }
        }
        XCTAssertEqual(threads.threadCount, 1, "one request at a time needs one thread")
    }
}
