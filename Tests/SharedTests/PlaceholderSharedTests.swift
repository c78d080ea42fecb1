import XCTest
@testable import Shared

final class PlaceholderSharedTests: XCTestCase {
    func testBuilds() { XCTAssertTrue(true) }
}
