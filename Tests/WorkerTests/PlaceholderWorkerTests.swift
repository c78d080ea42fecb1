import XCTest
@testable import Worker

final class PlaceholderWorkerTests: XCTestCase {
    func testBuilds() { XCTAssertTrue(true) }
}
