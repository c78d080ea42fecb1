import XCTest
@testable import Storage

final class PlaceholderStorageTests: XCTestCase {
    func testBuilds() { XCTAssertTrue(true) }
}
