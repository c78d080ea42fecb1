import Foundation
import XCTest
@testable import Shared

final class HTTPHeadParserTests: XCTestCase {
    func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> HTTPRequestHead? {
        do { return try HTTPHeadParser.parse(ArraySlice(text.utf8)) } catch {
            XCTFail("refused: \(error)", file: file, line: line)
            return nil
        }
    }

    func assertRefused(_ text: String, status: Int, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let head = try HTTPHeadParser.parse(ArraySlice(text.utf8))
            XCTFail("accepted \(text.debugDescription) as \(head)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.status, status, "\(text.debugDescription): \(error)", file: file, line: line)
            XCTAssertFalse(error.reason.isEmpty, file: file, line: line)
        }
    }

    // MARK: valid heads

    func testSyncRequest() throws {
        let text = "POST /sync/start HTTP/1.1\r\n"
            + "anki-sync: {\"v\":11,\"k\":\"579e7fa764f43a98d0fa5a30dcd5401f868bbe6d\",\"c\":\"26.09.3,29bb700b,linux\",\"s\":\"c74EFs\"}\r\n"
            + "Content-Type: application/octet-stream\r\n"
            + "accept: */*\r\n"
            + "Transfer-Encoding: chunked\r\n\r\n"
        let head = try XCTUnwrap(parse(text))
        XCTAssertEqual(head.method, "POST")
        XCTAssertEqual(head.target, "/sync/start")
        XCTAssertEqual(head.path, "/sync/start")
        XCTAssertNil(head.query)
        XCTAssertEqual(head.minorVersion, 1)
        XCTAssertEqual(head.headers.map(\.name), ["anki-sync", "content-type", "accept", "transfer-encoding"])
        XCTAssertEqual(head.header("content-type"), "application/octet-stream")
        XCTAssertEqual(head.header("anki-sync"), "{\"v\":11,\"k\":\"579e7fa764f43a98d0fa5a30dcd5401f868bbe6d\",\"c\":\"26.09.3,29bb700b,linux\",\"s\":\"c74EFs\"}")
        XCTAssertNil(head.header("Content-Type"), "lookups use lowercase names")
        XCTAssertTrue(head.isChunked)
        XCTAssertEqual(head.bodyFraming, .chunked)
        XCTAssertTrue(head.keepAlive)
    }

    func testQueryAndParams() throws {
        let head = try XCTUnwrap(parse("GET /msync/begin?k=abc&v=anki,2.1.50 HTTP/1.1\r\nHost: x\r\n\r\n"))
        XCTAssertEqual(head.path, "/msync/begin")
        XCTAssertEqual(head.query, "k=abc&v=anki,2.1.50")
        let empty = try XCTUnwrap(parse("GET /health? HTTP/1.1\r\n\r\n"))
        XCTAssertEqual(empty.path, "/health")
        XCTAssertEqual(empty.query, "")
        let semicolon = try XCTUnwrap(parse("GET /a;p=1/b?x=?y HTTP/1.1\r\n\r\n"))
        XCTAssertEqual(semicolon.path, "/a;p=1/b")
        XCTAssertEqual(semicolon.query, "x=?y")
    }

    func testManyHeadersAndValueTrimming() throws {
        var text = "POST /sync/meta HTTP/1.1\r\n"
        for i in 0..<100 { text += "X-Header-\(i):\t  value \(i) \t\r\n" }
        text += "Empty:\r\nx-dup: one\r\nX-Dup: two\r\n\r\n"
        let head = try XCTUnwrap(parse(text))
        XCTAssertEqual(head.headers.count, 103)
        XCTAssertEqual(head.header("x-header-0"), "value 0")
        XCTAssertEqual(head.header("x-header-99"), "value 99")
        XCTAssertEqual(head.header("empty"), "")
        XCTAssertEqual(head.header("x-dup"), "one", "first of repeated headers")
        XCTAssertEqual(head.headers.filter { $0.name == "x-dup" }.map(\.value), ["one", "two"])
    }

    func testTokenCharactersInNamesAndMethod() throws {
        let head = try XCTUnwrap(parse("M-E.T_H~O!D /x HTTP/1.1\r\nA!#$%&'*+-.^_`|~z: v\r\n\r\n"))
        XCTAssertEqual(head.method, "M-E.T_H~O!D")
        XCTAssertEqual(head.headers.first?.name, "a!#$%&'*+-.^_`|~z")
    }

    func testHeaderValueWithObsTextAndTab() throws {
        let bytes: [UInt8] = Array("GET / HTTP/1.1\r\nX: a\tb ".utf8) + [0xC3, 0xA9] + Array("\r\n\r\n".utf8)
        let head = try HTTPHeadParser.parse(bytes[...])
        XCTAssertEqual(head.header("x"), "a\tb \u{E9}")
    }

    func testHTTP10() throws {
        let head = try XCTUnwrap(parse("GET /health HTTP/1.0\r\n\r\n"))
        XCTAssertEqual(head.minorVersion, 0)
        XCTAssertFalse(head.keepAlive)
    }

    func testAsteriskTarget() throws {
        XCTAssertEqual(parse("OPTIONS * HTTP/1.1\r\n\r\n")?.target, "*")
    }

    func testParseFromSliceNotAtZero() throws {
        let buffer = Array("GET /a HTTP/1.1\r\n\r\nPOST /sync/meta HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc".utf8)
        let first = try XCTUnwrap(HTTPHeadParser.headEnd(in: buffer))
        let secondEnd = try XCTUnwrap(HTTPHeadParser.headEnd(in: buffer, searchFrom: first))
        let head = try HTTPHeadParser.parse(buffer[first..<secondEnd])
        XCTAssertEqual(head.method, "POST")
        XCTAssertEqual(head.bodyFraming, .length(3))
        XCTAssertEqual(secondEnd, buffer.count - 3)
    }

    // MARK: headEnd

    func testHeadEnd() {
        let text = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY".utf8)
        XCTAssertEqual(HTTPHeadParser.headEnd(in: text), text.count - 4)
        XCTAssertNil(HTTPHeadParser.headEnd(in: Array("GET / HTTP/1.1\r\nHost: a\r\n".utf8)))
        XCTAssertNil(HTTPHeadParser.headEnd(in: Array("GET / HTTP/1.1\r\nHost: a\r\n\r".utf8)))
        XCTAssertNil(HTTPHeadParser.headEnd(in: Array("\n\n\n\r\n\n\r\r\n".utf8)))
        XCTAssertNil(HTTPHeadParser.headEnd(in: [UInt8]()))
        XCTAssertNil(HTTPHeadParser.headEnd(in: Array("\r\n\r".utf8)))
        XCTAssertEqual(HTTPHeadParser.headEnd(in: Array("\r\n\r\n".utf8)), 4)
        XCTAssertEqual(HTTPHeadParser.headEnd(in: Array("\r\r\n\r\n".utf8)), 5)
        XCTAssertEqual(HTTPHeadParser.headEnd(in: Array("a\r\n\r\r\n\r\n".utf8)), 8)
        XCTAssertEqual(HTTPHeadParser.headEnd(in: Array("ab\n\r\n\r\n".utf8)), 7)
    }

    func testHeadEndAtEveryOffset() {
        // The terminator found wherever it sits relative to the skip distance.
        for prefixLength in 0..<20 {
            let bytes = Array(String(repeating: "x", count: prefixLength).utf8) + Array("\r\n\r\nyyyy".utf8)
            XCTAssertEqual(HTTPHeadParser.headEnd(in: bytes), prefixLength + 4, "prefix \(prefixLength)")
        }
    }

    func testHeadEndOnFragmentedInputWithSearchFrom() {
        let full = Array("POST /sync/meta HTTP/1.1\r\nanki-sync: {}\r\nContent-Length: 2\r\n\r\n{}".utf8)
        let expected = full.count - 2
        // Deliver the bytes in pieces of every size; each scan resumes where the last one stopped.
        for piece in 1...9 {
            var buffer: [UInt8] = []
            var scanned = 0
            var found: Int?
            var offset = 0
            while found == nil, offset < full.count {
                let next = min(offset + piece, full.count)
                buffer += full[offset..<next]
                offset = next
                found = HTTPHeadParser.headEnd(in: buffer, searchFrom: scanned)
                scanned = buffer.count
            }
            XCTAssertEqual(found, expected, "pieces of \(piece)")
        }
        // The terminator split across every position.
        for cut in 0...full.count {
            let first = Array(full[..<cut])
            let early = HTTPHeadParser.headEnd(in: first)
            XCTAssertEqual(early, cut >= expected ? expected : nil, "cut \(cut)")
            if early == nil {
                XCTAssertEqual(HTTPHeadParser.headEnd(in: full, searchFrom: cut), expected, "cut \(cut)")
            }
        }
    }

    func testHeadEndSearchFromSkipsEarlierTerminator() {
        let bytes = Array("A\r\n\r\nB\r\n\r\n".utf8)
        XCTAssertEqual(HTTPHeadParser.headEnd(in: bytes), 5)
        XCTAssertEqual(HTTPHeadParser.headEnd(in: bytes, searchFrom: 5), 10)
        XCTAssertEqual(HTTPHeadParser.headEnd(in: bytes, searchFrom: 100), nil)
    }

    // MARK: rejections

    func testBareLFRejected() {
        assertRefused("GET / HTTP/1.1\nHost: a\r\n\r\n", status: 400)
        assertRefused("GET / HTTP/1.1\r\nHost: a\n\r\n", status: 400)
        assertRefused("\nGET / HTTP/1.1\r\n\r\n", status: 400)
    }

    func testRequestLineRejections() {
        assertRefused("\r\n\r\n", status: 400)
        assertRefused("GET /\r\n\r\n", status: 400)
        assertRefused("GET / \r\n\r\n", status: 400)
        assertRefused("GET  / HTTP/1.1\r\n\r\n", status: 400)
        assertRefused("GET / HTTP/1.1 \r\n\r\n", status: 400)
        assertRefused(" GET / HTTP/1.1\r\n\r\n", status: 400)
        assertRefused("GET / FTP/1.1\r\n\r\n", status: 400)
        assertRefused("GET / http/1.1\r\n\r\n", status: 400)
        assertRefused("GET http://host/ HTTP/1.1\r\n\r\n", status: 400)
        assertRefused("GET sync/meta HTTP/1.1\r\n\r\n", status: 400)
        assertRefused("G(T / HTTP/1.1\r\n\r\n", status: 400)
        assertRefused("GET /a\u{7F}b HTTP/1.1\r\n\r\n", status: 400)
        assertRefused("GET /a\tb HTTP/1.1\r\n\r\n", status: 400)
        assertRefused("G\u{0}T / HTTP/1.1\r\n\r\n", status: 400)
        let nonASCII = Array("GET /".utf8) + [0xC3, 0xA9] + Array(" HTTP/1.1\r\n\r\n".utf8)
        XCTAssertThrowsError(try HTTPHeadParser.parse(nonASCII[...]))
    }

    func testUnsupportedVersions() {
        assertRefused("GET / HTTP/2.0\r\n\r\n", status: 505)
        assertRefused("GET / HTTP/1.2\r\n\r\n", status: 505)
        assertRefused("GET / HTTP/0.9\r\n\r\n", status: 505)
        assertRefused("GET / HTTP/1.10\r\n\r\n", status: 505)
        assertRefused("GET / HTTP/1\r\n\r\n", status: 505)
    }

    func testHeaderRejections() {
        assertRefused("GET / HTTP/1.1\r\nHost : a\r\n\r\n", status: 400)
        assertRefused("GET / HTTP/1.1\r\n: a\r\n\r\n", status: 400)
        assertRefused("GET / HTTP/1.1\r\nNoColon\r\n\r\n", status: 400)
        assertRefused("GET / HTTP/1.1\r\nBad(name): a\r\n\r\n", status: 400)
        assertRefused("GET / HTTP/1.1\r\nBad/name: a\r\n\r\n", status: 400)
        assertRefused("GET / HTTP/1.1\r\nX: a\u{0}b\r\n\r\n", status: 400)
        assertRefused("GET / HTTP/1.1\r\nX: a\u{7F}b\r\n\r\n", status: 400)
        assertRefused("GET / HTTP/1.1\r\nX: a\u{1B}b\r\n\r\n", status: 400)
        assertRefused("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", status: 400)
    }

    func testObsoleteLineFoldingRejected() {
        assertRefused("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", status: 400)
        assertRefused("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", status: 400)
        assertRefused("GET / HTTP/1.1\r\n X: a\r\n\r\n", status: 400)
    }

    func testContentLengthAndTransferEncodingTogetherRejected() {
        assertRefused("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400)
        assertRefused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", status: 400)
    }

    func testConflictingOrInvalidContentLengthsRejected() {
        assertRefused("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", status: 400)
        assertRefused("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", status: 400)
        assertRefused("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 05\r\n\r\n", status: 400)
        assertRefused("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", status: 400)
        assertRefused("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", status: 400)
        assertRefused("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", status: 400)
        assertRefused("POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", status: 400)
        assertRefused("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", status: 400)
        assertRefused("POST / HTTP/1.1\r\nContent-Length: 1234567890123456\r\n\r\n", status: 400)
        assertRefused("POST / HTTP/1.1\r\nContent-Length: \u{661}\r\n\r\n", status: 400) // Arabic-Indic digit one
    }

    func testRepeatedIdenticalContentLengthAccepted() throws {
        let head = try XCTUnwrap(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n"))
        XCTAssertEqual(head.bodyFraming, .length(5))
    }

    func testIdenticalContentLengthListFramesTheBody() {
        // RFC 9110 §8.6: "Content-Length: 5, 5" may be accepted as 5, or refused. The parser accepts it,
        // so the body must then be framed as 5 bytes, never as no body (that would desynchronise the
        // connection: the 5 body bytes would be read as the next request).
        do {
            let head = try HTTPHeadParser.parse(ArraySlice("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n".utf8))
            XCTAssertEqual(head.bodyFraming, .length(5))
            XCTAssertEqual(head.contentLength, 5)
        } catch {
            XCTAssertEqual(error.status, 400)
        }
    }

    func testTransferCodings() throws {
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n")?.bodyFraming, .chunked)
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nTransfer-Encoding:  chunked \r\n\r\n")?.bodyFraming, .chunked)
        assertRefused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", status: 501)
        assertRefused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 501)
        assertRefused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", status: 501)
        assertRefused("POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", status: 501)
        assertRefused("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", status: 501)
        assertRefused("POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", status: 501)
        assertRefused("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", status: 501)
        assertRefused("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400)
    }

    // MARK: keep-alive and framing

    func testKeepAliveRules() {
        XCTAssertEqual(parse("GET / HTTP/1.1\r\n\r\n")?.keepAlive, true)
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")?.keepAlive, false)
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n")?.keepAlive, false)
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n")?.keepAlive, true)
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n")?.keepAlive, false)
        XCTAssertEqual(parse("GET / HTTP/1.0\r\n\r\n")?.keepAlive, false)
        XCTAssertEqual(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")?.keepAlive, true)
        XCTAssertEqual(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")?.keepAlive, true)
        XCTAssertEqual(parse("GET / HTTP/1.0\r\nConnection: close\r\n\r\n")?.keepAlive, false)
    }

    func testBodyFraming() {
        XCTAssertEqual(parse("GET / HTTP/1.1\r\n\r\n")?.bodyFraming, BodyFraming.none)
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")?.bodyFraming, BodyFraming.none)
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n")?.bodyFraming, .length(1_048_576))
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nContent-Length: 007\r\n\r\n")?.bodyFraming, .length(7))
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")?.bodyFraming, .chunked)
        XCTAssertEqual(parse("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n")?.bodyFraming, .length(3))
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nContent-Length: 999999999999999\r\n\r\n")?.contentLength, 999_999_999_999_999)
    }

    func testHTTPErrorDescription() {
        XCTAssertEqual(HTTPError(400, "bad").description, "400 bad")
    }
}
