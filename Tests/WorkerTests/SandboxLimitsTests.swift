import Shared
import XCTest
@testable import Worker

final class SandboxLimitsTests: XCTestCase {
    func testLimitsFollowTheConfiguredOnes() {
        let defaults = ResourceLimits(maxConnections: 256, maxPayloadMegs: 100)
        XCTAssertEqual(defaults.maxOpenFiles, 256 + 64)
        XCTAssertEqual(defaults.maxFileBytes, 4 * 300 * 1024 * 1024)
        // A small payload limit still leaves room for the largest media file.
        XCTAssertEqual(ResourceLimits(maxConnections: 4, maxPayloadMegs: 1).maxFileBytes, 4 * 100 * 1024 * 1024)
    }

    func testIsolationIsCompleteOnlyWithEveryLayer() {
        XCTAssertTrue(WorkerIsolation(landlockAbi: 1, seccomp: true, noNewPrivs: true).complete)
        XCTAssertFalse(WorkerIsolation(landlockAbi: 0, seccomp: true, noNewPrivs: true).complete)
        XCTAssertFalse(WorkerIsolation(landlockAbi: 7, seccomp: false, noNewPrivs: true).complete)
    }
}
