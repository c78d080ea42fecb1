import CShim
import Synchronization
import XCTest
@testable import Worker

final class HeapReleaseTests: XCTestCase {
    private final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    private func policy() -> (HeapRelease, Counter) {
        let trims = Counter()
        return (HeapRelease(trim: { trims.value.add(1, ordering: .relaxed) }), trims)
    }

    func testLargeTransferIsReleasedAsSoonAsIdle() {
        let (heap, trims) = policy()
        heap.requestFinished(bytesMoved: HeapRelease.largeTransferBytes)
        heap.becameIdle()
        XCTAssertEqual(trims.value.load(ordering: .relaxed), 1)
        heap.becameIdle()                                   // once per large request
        XCTAssertEqual(trims.value.load(ordering: .relaxed), 1)
    }

    func testSmallRequestsWaitForQuiet() {
        let (heap, trims) = policy()
        heap.requestFinished(bytesMoved: 10_000)
        heap.becameIdle()
        XCTAssertEqual(trims.value.load(ordering: .relaxed), 0, "no trim between ordinary requests")
        heap.tick(idleMillis: HeapRelease.quietMillis - 1, sessionOpen: false)
        XCTAssertEqual(trims.value.load(ordering: .relaxed), 0)
        heap.tick(idleMillis: HeapRelease.quietMillis, sessionOpen: true)
        XCTAssertEqual(trims.value.load(ordering: .relaxed), 0, "not while a sync session is open")
        heap.tick(idleMillis: HeapRelease.quietMillis, sessionOpen: false)
        XCTAssertEqual(trims.value.load(ordering: .relaxed), 1)
        heap.tick(idleMillis: HeapRelease.quietMillis * 5, sessionOpen: false)
        XCTAssertEqual(trims.value.load(ordering: .relaxed), 1, "once per idle period")
        heap.requestFinished(bytesMoved: 1)
        heap.tick(idleMillis: HeapRelease.quietMillis, sessionOpen: false)
        XCTAssertEqual(trims.value.load(ordering: .relaxed), 2)
    }

    func testNothingToReleaseAtStart() {
        let (heap, trims) = policy()
        heap.tick(idleMillis: 60_000, sessionOpen: false)
        heap.becameIdle()
        XCTAssertEqual(trims.value.load(ordering: .relaxed), 0)
    }

    /// The real trim runs (glibc) and reports whether it trimmed; below the threshold it does nothing.
    func testRealTrimIsCallable() {
        XCTAssertEqual(cshim_release_free_heap(Int.max), 0)
    }
}
