import Foundation
import XCTest
@testable import Shared
import Archive

final class LegacyFormTests: XCTestCase {
    func testBoundaryParsing() throws {
        XCTAssertEqual(try Multipart.boundary(contentType: "multipart/form-data; boundary=abc"), Array("abc".utf8))
        XCTAssertEqual(try Multipart.boundary(contentType: "Multipart/Form-Data;boundary=\"a b\""), Array("a b".utf8))
        XCTAssertThrowsError(try Multipart.boundary(contentType: "multipart/form-data"))
        XCTAssertThrowsError(try Multipart.boundary(contentType: "application/octet-stream"))
        XCTAssertThrowsError(try Multipart.boundary(contentType: nil))
        XCTAssertThrowsError(try Multipart.boundary(contentType: "multipart/form-data; boundary=\"abc"))
    }

    func testGzipRoundTripLimitAndGarbage() throws {
        let text = Array(String(repeating: "hello ", count: 1000).utf8)
        let gz = try gzip(text)
        XCTAssertEqual(try GzipInflater.inflate(gz, limit: 10_000), text)
        XCTAssertThrowsError(try GzipInflater.inflate(gz, limit: 100)) { XCTAssertEqual($0 as? GzipError, .outputLimit(100)) }
        XCTAssertThrowsError(try GzipInflater.inflate(Array("not gzip".utf8), limit: 100))
        XCTAssertThrowsError(try GzipInflater.inflate(Array(gz.prefix(gz.count / 2)), limit: 10_000)) {
            XCTAssertEqual($0 as? GzipError, .truncated)
        }
    }

    func testPayloadDefaultsAndQuery() throws {
        var f = LegacyFields()
        XCTAssertEqual(try f.payload([], limit: 10), Array("{}".utf8))
        f.compressed = true
        XCTAssertThrowsError(try f.payload(Array("{}".utf8), limit: 10))
        let q = LegacyFields(query: "k=ab%2Fc&v=ankidroid,2.15")
        XCTAssertEqual(q.hostKey, "ab/c")
        XCTAssertEqual(q.clientVersion, "ankidroid,2.15")
    }

    /// gzip via zlib's deflateInit2 (window bits 31).
    func gzip(_ input: [UInt8]) throws -> [UInt8] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/gzip")
        p.arguments = ["-c"]
        let inPipe = Pipe(), outPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        try p.run()
        inPipe.fileHandleForWriting.write(Data(input))
        try inPipe.fileHandleForWriting.close()
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return [UInt8](out)
    }
}
