import XCTest
@testable import Shared
@testable import Supervisor

final class RequestRouterTests: XCTestCase {
    func testHealthNeedsNoHeader() throws {
        let router = RequestRouter(users: [])
        let head = try HTTPHeadParser.parse(ArraySlice("GET /health HTTP/1.1\r\n\r\n".utf8))
        XCTAssertEqual(router.decide(head), .health)
    }
}
