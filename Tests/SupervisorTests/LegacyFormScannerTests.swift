import XCTest
@testable import Shared
@testable import Supervisor

/// The supervisor's legacy form scanner: body framing, then the form, fed in pieces.
final class LegacyFormScannerTests: XCTestCase {
    static let boundary = "Anki-sync-boundary"

    func body(_ fields: [(String, [UInt8])], boundary: String = boundary) -> [UInt8] {
        var out: [UInt8] = []
        for (name, value) in fields {
            out += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n".utf8)
            out += value + Array("\r\n".utf8)
        }
        return out + Array("--\(boundary)--\r\n".utf8)
    }

    /// Feeds `bytes` in pieces of `piece` bytes; returns the fields and the data part.
    func scan(_ bytes: [UInt8], piece: Int, framing: BodyFraming? = nil) throws -> (LegacyFields, [UInt8], Bool) {
        var scanner = LegacyFormScanner(boundary: Array(Self.boundary.utf8), framing: framing ?? .length(bytes.count))
        var data: [UInt8] = []
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + piece)
            let used = try Array(bytes[offset..<end]).withUnsafeBytes { raw in
                try scanner.feed(raw) { data.append(contentsOf: $0) }
            }
            offset += used
            if offset < end { break }       // the body ended inside this piece
        }
        return (scanner.fields, data, scanner.isComplete)
    }

    func testFieldsAndDataAtEveryPieceSize() throws {
        let payload = Array((0..<3000).map { UInt8(truncatingIfNeeded: $0 * 7) }) + Array("\r\n--Anki-sync-boundar".utf8)
        let form = body([("data", payload), ("k", Array("key1".utf8)), ("s", Array("sess".utf8)), ("c", Array("1".utf8)), ("v", Array("ankidroid".utf8))])
        for piece in [1, 2, 3, 7, 64, 1000, form.count] {
            let (fields, data, complete) = try scan(form, piece: piece)
            XCTAssertEqual(data, payload, "piece \(piece)")
            XCTAssertEqual(fields.hostKey, "key1")
            XCTAssertEqual(fields.sessionKey, "sess")
            XCTAssertTrue(fields.compressed)
            XCTAssertEqual(fields.clientVersion, "ankidroid")
            XCTAssertTrue(complete)
        }
    }

    func testSkIsASynonymAndCZeroMeansPlain() throws {
        let (fields, data, _) = try scan(body([("sk", Array("abc".utf8)), ("c", Array("0".utf8))]), piece: 5)
        XCTAssertEqual(fields.hostKey, "abc")
        XCTAssertFalse(fields.compressed)
        XCTAssertEqual(data, [])
        XCTAssertFalse(fields.sawData)
    }

    func testWrongBoundaryOrMissingEndIs400() {
        let other = body([("k", Array("x".utf8))], boundary: "other")
        XCTAssertThrowsError(try scan(other, piece: 10)) { XCTAssertEqual(($0 as? HTTPError)?.status, 400) }
        var cut = body([("k", Array("x".utf8))])
        cut.removeLast(8)
        XCTAssertThrowsError(try scan(cut, piece: 10)) { XCTAssertEqual(($0 as? HTTPError)?.status, 400) }
    }

    func testBytesAfterTheBodyAreNotConsumed() throws {
        let form = body([("k", Array("x".utf8))])
        var scanner = LegacyFormScanner(boundary: Array(Self.boundary.utf8), framing: .length(form.count))
        let used = try (form + Array("GET /health HTTP/1.1\r\n\r\n".utf8)).withUnsafeBytes { try scanner.feed($0) { _ in } }
        XCTAssertEqual(used, form.count)
        XCTAssertTrue(scanner.isComplete)
    }

    func testChunkedFraming() throws {
        let form = body([("k", Array("chunky".utf8))])
        var wire: [UInt8] = []
        for start in stride(from: 0, to: form.count, by: 10) {
            let part = form[start..<min(form.count, start + 10)]
            wire += Array(String(part.count, radix: 16).utf8) + [13, 10] + part + [13, 10]
        }
        wire += Array("0\r\n\r\n".utf8)
        let (fields, _, complete) = try scan(wire, piece: 3, framing: .chunked)
        XCTAssertEqual(fields.hostKey, "chunky")
        XCTAssertTrue(complete)
    }
}
