import Foundation
import XCTest
@testable import Shared

final class BodyDecoderTests: XCTestCase {
    /// Feeds `input` once; returns bytes consumed, appending body bytes to `body`.
    @discardableResult
    func feed(_ decoder: inout BodyDecoder, _ input: ArraySlice<UInt8>, into body: inout [UInt8]) throws -> Int {
        try Array(input).withUnsafeBytes { raw in
            try decoder.feed(raw) { body.append(contentsOf: $0) }
        }
    }

    /// Feeds `wire` in pieces of `pieceSize`, stopping once done; returns (body, consumed).
    func decode(_ framing: BodyFraming, _ wire: [UInt8], pieceSize: Int) throws -> (body: [UInt8], consumed: Int, done: Bool) {
        var decoder = BodyDecoder(framing: framing)
        var body: [UInt8] = []
        var offset = 0
        while offset < wire.count, !decoder.isDone {
            let end = min(offset + pieceSize, wire.count)
            let used = try feed(&decoder, wire[offset..<end], into: &body)
            XCTAssertTrue(used == end - offset || decoder.isDone, "a decoder that is not done uses all input")
            offset += used
            if offset < end { break }
        }
        return (body, offset, decoder.isDone)
    }

    func assertRefused(_ wire: String, file: StaticString = #filePath, line: UInt = #line) {
        assertRefused(Array(wire.utf8), file: file, line: line)
    }

    func assertRefused(_ wire: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        // Both fed at once and byte by byte.
        for piece in [wire.count, 1] {
            do {
                let r = try decode(.chunked, wire, pieceSize: max(piece, 1))
                XCTFail("accepted (done: \(r.done), body \(r.body.count) bytes) in pieces of \(piece)", file: file, line: line)
            } catch let error as HTTPError {
                XCTAssertEqual(error.status, 400, file: file, line: line)
            } catch {
                XCTFail("unexpected error \(error)", file: file, line: line)
            }
        }
    }

    static let next = Array("GET /health HTTP/1.1\r\n\r\n".utf8)

    // MARK: no body / content-length

    func testNoBody() throws {
        var decoder = BodyDecoder(framing: .none)
        XCTAssertTrue(decoder.isDone)
        var body: [UInt8] = []
        XCTAssertEqual(try feed(&decoder, Self.next[...], into: &body), 0)
        XCTAssertEqual(body, [])
        XCTAssertTrue(BodyDecoder(framing: .length(0)).isDone)
    }

    func testContentLengthSplitAtEveryByte() throws {
        let payload = Array("hello, content-length body".utf8)
        let wire = payload + Self.next
        for cut in 0...wire.count {
            var decoder = BodyDecoder(framing: .length(payload.count))
            var body: [UInt8] = []
            let first = try feed(&decoder, wire[..<cut], into: &body)
            XCTAssertEqual(first, min(cut, payload.count), "cut \(cut)")
            XCTAssertEqual(decoder.isDone, cut >= payload.count, "cut \(cut)")
            let second = try feed(&decoder, wire[first...], into: &body)
            XCTAssertEqual(first + second, payload.count, "cut \(cut)")
            XCTAssertTrue(decoder.isDone)
            XCTAssertEqual(body, payload, "cut \(cut)")
            XCTAssertEqual(Array(wire[(first + second)...]), Self.next, "the next request is left untouched")
        }
    }

    func testContentLengthOneByteAtATime() throws {
        let payload = pseudoRandomBytes(1000)
        let r = try decode(.length(payload.count), payload + Self.next, pieceSize: 1)
        XCTAssertEqual(r.body, payload)
        XCTAssertEqual(r.consumed, payload.count)
        XCTAssertTrue(r.done)
    }

    func testContentLengthIncomplete() throws {
        var decoder = BodyDecoder(framing: .length(10))
        var body: [UInt8] = []
        XCTAssertEqual(try feed(&decoder, Array("12345".utf8)[...], into: &body), 5)
        XCTAssertFalse(decoder.isDone)
        XCTAssertEqual(try feed(&decoder, [][...], into: &body), 0)
        XCTAssertFalse(decoder.isDone)
    }

    func testSinkErrorPropagates() {
        struct Stop: Error {}
        var decoder = BodyDecoder(framing: .length(4))
        XCTAssertThrowsError(try Array("abcd".utf8).withUnsafeBytes { raw in
            try decoder.feed(raw) { _ in throw Stop() }
        }) { XCTAssertTrue($0 is Stop) }
    }

    /// A caller that stops taking the body mid-way (a refused upload) skips the rest in step with
    /// the framing: the bytes a throwing sink was given count as used.
    func testAfterASinkErrorTheRestIsSkippedInStep() throws {
        struct Stop: Error {}
        let wire = Self.chunkedWire + Array("GET /next".utf8)
        for stopAfter in [1, 5, 6, 20, 30] {
            var decoder = BodyDecoder(framing: .chunked)
            var seen = 0
            var used = 0
            XCTAssertThrowsError(try wire.withUnsafeBytes { raw in
                try decoder.feed(raw, used: &used) { chunk in
                    seen += chunk.count
                    if seen >= stopAfter { throw Stop() }
                }
            })
            var rest: [UInt8] = []
            let more = try feed(&decoder, wire[used...], into: &rest)
            XCTAssertTrue(decoder.isDone, "stop after \(stopAfter)")
            XCTAssertEqual(Array(wire[(used + more)...]), Array("GET /next".utf8), "stop after \(stopAfter)")
            XCTAssertEqual(seen + rest.count, 30, "every body byte once")
        }
    }

    // MARK: chunked

    static let chunkedWire = Array((
        "5;name=value;other=\"quoted; text\"\r\nhello\r\n"
        + "1\r\n,\r\n"
        + "9 \t; spaced-extension\r\n world!!!\r\n"
        + "000000F\r\n chunk number 4\r\n"
        + "0;last\r\n"
        + "X-Trailer: one\r\n"
        + "Another: two\r\n"
        + "\r\n").utf8)
    static let chunkedBody = Array("hello, world!!! chunk number 4".utf8)

    func testChunkedAllAtOnceStopsAtEnd() throws {
        let wire = Self.chunkedWire + Self.next
        var decoder = BodyDecoder(framing: .chunked)
        var body: [UInt8] = []
        let used = try feed(&decoder, wire[...], into: &body)
        XCTAssertEqual(used, Self.chunkedWire.count)
        XCTAssertTrue(decoder.isDone)
        XCTAssertEqual(body, Self.chunkedBody)
        XCTAssertEqual(Array(wire[used...]), Self.next)
    }

    func testChunkedOneByteAtATime() throws {
        var decoder = BodyDecoder(framing: .chunked)
        var body: [UInt8] = []
        let wire = Self.chunkedWire + Self.next
        var offset = 0
        while !decoder.isDone {
            XCTAssertLessThan(offset, Self.chunkedWire.count, "done too late")
            let used = try feed(&decoder, wire[offset..<(offset + 1)], into: &body)
            XCTAssertEqual(used, 1)
            offset += used
        }
        XCTAssertEqual(offset, Self.chunkedWire.count)
        XCTAssertEqual(body, Self.chunkedBody)
        XCTAssertEqual(try feed(&decoder, wire[offset...], into: &body), 0, "nothing after the body is consumed")
        XCTAssertEqual(body, Self.chunkedBody)
    }

    func testChunkedSplitAtEveryByte() throws {
        let wire = Self.chunkedWire + Self.next
        for cut in 0...wire.count {
            var decoder = BodyDecoder(framing: .chunked)
            var body: [UInt8] = []
            let first = try feed(&decoder, wire[..<cut], into: &body)
            let second = try feed(&decoder, wire[first...], into: &body)
            XCTAssertEqual(first + second, Self.chunkedWire.count, "cut \(cut)")
            XCTAssertEqual(body, Self.chunkedBody, "cut \(cut)")
            XCTAssertTrue(decoder.isDone)
        }
    }

    func testEmptyChunkedBody() throws {
        let r = try decode(.chunked, Array("0\r\n\r\n".utf8) + Self.next, pieceSize: 100)
        XCTAssertEqual(r.body, [])
        XCTAssertEqual(r.consumed, 5)
        XCTAssertTrue(r.done)
    }

    func testUppercaseAndLowercaseHex() throws {
        let wire = Array("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n".utf8)
        let r = try decode(.chunked, wire, pieceSize: 3)
        XCTAssertEqual(r.body, Array("0123456789abcdefghij".utf8))
        XCTAssertTrue(r.done)
    }

    func testBinaryChunkDataContainingCRLF() throws {
        let data: [UInt8] = [13, 10, 13, 10, 0x30, 13, 10, 0]
        let wire = Array("8\r\n".utf8) + data + Array("\r\n0\r\n\r\n".utf8)
        let r = try decode(.chunked, wire, pieceSize: 1)
        XCTAssertEqual(r.body, data)
        XCTAssertTrue(r.done)
    }

    func testIncompleteChunkedBodyIsNotDone() throws {
        let partial = Array(Self.chunkedWire.dropLast(1))
        let r = try decode(.chunked, partial, pieceSize: partial.count)
        XCTAssertFalse(r.done)
        XCTAssertEqual(r.consumed, partial.count)
        XCTAssertEqual(r.body, Self.chunkedBody)
    }

    func testLargeBodyInManyOrdinaryChunksAccepted() throws {
        // A 24 MB upload sent as 3000 chunks of 8 KiB (clients stream their zstd output in pieces).
        // The framing overhead is 6 bytes per chunk ("2000\r\n"): ordinary, not abusive.
        var decoder = BodyDecoder(framing: .chunked)
        let data = pseudoRandomBytes(8192)
        let chunk = Array("2000\r\n".utf8) + data + Array("\r\n".utf8)
        var received = 0
        for index in 0..<3000 {
            do {
                _ = try chunk.withUnsafeBytes { raw in try decoder.feed(raw) { received += $0.count } }
            } catch {
                XCTFail("refused at chunk \(index) after \(received) body bytes: \(error)")
                return
            }
        }
        _ = try Array("0\r\n\r\n".utf8).withUnsafeBytes { raw in try decoder.feed(raw) { received += $0.count } }
        XCTAssertTrue(decoder.isDone)
        XCTAssertEqual(received, 3000 * 8192)
    }

    // MARK: malformed

    func testMalformedChunkSizes() {
        assertRefused("g\r\nxxx")
        assertRefused("\r\n")
        assertRefused(";ext\r\n")
        assertRefused(" 5\r\nhello\r\n0\r\n\r\n")
        assertRefused("-5\r\n")
        assertRefused("0x5\r\nhello\r\n")
        assertRefused("5\nhello\r\n")
        assertRefused("5\rhello")
        assertRefused("5;ext\u{7F}\r\n")
        assertRefused("5;ext\u{0}\r\n")
        assertRefused("5;ext\r\rhello")
    }

    func testMissingCRLFAfterChunkData() {
        assertRefused("5\r\nhelloX\r\n0\r\n\r\n")
        assertRefused("5\r\nhello\rX0\r\n\r\n")
        assertRefused("5\r\nhello\n0\r\n\r\n")
        assertRefused("5\r\nhello world\r\n")
    }

    func testMalformedEnd() {
        assertRefused("0\r\n\rX")
        assertRefused("0\r\nX-T: v\rX")
    }

    func testHugeChunkSizeRefused() {
        assertRefused("1000000000000000\r\n")
        assertRefused("ffffffffffffffffffff\r\n")
    }

    func testLargestChunkSizeAccepted() throws {
        // 15 hex digits fit in an Int; the body limit is the caller's business.
        var decoder = BodyDecoder(framing: .chunked)
        var body: [UInt8] = []
        XCTAssertEqual(try feed(&decoder, Array("fffffffffffffff\r\nabc".utf8)[...], into: &body), 20)
        XCTAssertEqual(body, Array("abc".utf8))
        XCTAssertFalse(decoder.isDone)
    }

    func testOverheadBound() {
        let longExtension = "5;" + String(repeating: "x", count: BodyDecoder.maxOverheadBytes) + "\r\nhello\r\n0\r\n\r\n"
        assertRefused(longExtension)
        let longTrailer = "0\r\nX-T: " + String(repeating: "y", count: BodyDecoder.maxOverheadBytes) + "\r\n\r\n"
        assertRefused(longTrailer)
        var manyTrailers = "0\r\n"
        for i in 0..<3000 { manyTrailers += "T\(i): v\r\n" }
        assertRefused(manyTrailers + "\r\n")
    }

    func testModestExtensionsAndTrailersAccepted() throws {
        let wire = "5;" + String(repeating: "e", count: 1000) + "\r\nhello\r\n0\r\n"
            + "X-T: " + String(repeating: "t", count: 1000) + "\r\n\r\n"
        let r = try decode(.chunked, Array(wire.utf8), pieceSize: 7)
        XCTAssertEqual(r.body, Array("hello".utf8))
        XCTAssertTrue(r.done)
    }
}
