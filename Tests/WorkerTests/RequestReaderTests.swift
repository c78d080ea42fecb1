import Shared
import XCTest
@testable import Worker

/// One reader for every request of a handover: heads, bodies in pieces, what is left over.
final class RequestReaderTests: XCTestCase {
    func testRequestsInPiecesAcrossACompactionKeepEveryByteInOrder() throws {
        let body = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let first = Array("POST /sync/upload HTTP/1.1\r\ncontent-length: \(body.count)\r\n\r\n".utf8)
        let second = Array("POST /sync/meta HTTP/1.1\r\ncontent-length: 0\r\n\r\n".utf8)
        let next = Array("GET /health".utf8)
        let wire = first + body + second + next
        // Odd read sizes put request boundaries in the middle of reads; the last case hands over the
        // whole first request and part of the second head, so the buffer compacts before reading on.
        for (prefix, maxRead) in [(0, 7_001), (10, 65_536), (first.count + 5, 3), (first.count + body.count + 10, 4)] {
            let connection = MemoryConnection(input: Array(wire[prefix...]), maxRead: maxRead)
            let reader = RequestReader(connection: connection, prefix: Array(wire[..<prefix]))
            XCTAssertEqual(Array(try reader.readHead(limit: 64 * 1024)), first)
            var decoder = BodyDecoder(framing: .length(body.count))
            var got: [UInt8] = []
            try reader.readBody(&decoder) { got.append(contentsOf: $0) }
            XCTAssertEqual(got, body, "prefix \(prefix), reads of \(maxRead)")
            XCTAssertEqual(Array(try reader.readHead(limit: 64 * 1024)), second)
            while try reader.fill() {}
            XCTAssertEqual(reader.leftover, next, "the next request's bytes go back with the connection")
        }
    }
}
