import XCTest
@testable import Storage

final class ProtoWriterTests: XCTestCase {
    func testDefaultDeckConfigMatchesReferenceBytes() {
        // COLLECTION.md §3.3: the reference's 109-byte default deck config blob.
        let expected = hexBytes("""
            0a08 0000803f00002041 1204 00002041 221c \(String(repeating: "0000803f", count: 7))
            4814 50c801 5d00002040 656666a63f 6d9a99993f 7d0000803f 8001949d02 880101 900101
            980104 a80101 b00108 c0013c ad026666663f c5026666663f e00201
            """)
        XCTAssertEqual(expected.count, 109)
        XCTAssertEqual(DefaultObjects.deckConfigBlob(), expected)
    }

    func testDefaultDeckBlobs() {
        XCTAssertEqual(DefaultObjects.deckCommonBlob(), [0x08, 0x01, 0x10, 0x01])
        XCTAssertEqual(DefaultObjects.deckKindBlob(), [0x0a, 0x02, 0x08, 0x01])
    }

    func testNotetypeConfigTail() {
        // ... #8 {kind ANY, field_ords [0]} #9 BASIC, as in the reference's Basic notetype.
        let blob = DefaultObjects.notetypeConfigBlob()
        XCTAssertEqual(Array(blob.suffix(9)), [0x42, 0x05, 0x10, 0x01, 0x1a, 0x01, 0x00, 0x48, 0x01])
        XCTAssertEqual(blob.first, 0x1a, "starts with #3 css")
    }

    func testFieldConfigWithNegativeIdUsesTenByteVarint() {
        let blob = DefaultObjects.fieldConfigBlob(id: -3770790342052105552)
        XCTAssertEqual(Array(blob.prefix(9)), [0x1a, 0x05] + Array("Arial".utf8) + [0x20, 0x14])
        XCTAssertEqual(blob[9], 0x48)
        XCTAssertEqual(blob.count, 10 + 10)
        XCTAssertEqual(blob.last, 0x01, "sign bit lands in the tenth varint byte")
        XCTAssertEqual(DefaultObjects.fieldConfigBlob(id: 6806996674389576050),
                       hexBytes("1a05") + Array("Arial".utf8) + hexBytes("2014 48f29286e290edd3bb5e"))
    }

    func testDefaultsOmittedAndPresenceWritten() {
        var w = ProtoWriter()
        w.uint32(1, 0)
        w.int64(2, 0)
        w.bool(3, false)
        w.float(4, 0)
        w.string(5, "")
        w.packedFloats(6, [])
        w.packedUInt32(7, [])
        XCTAssertEqual(w.bytes, [])
        w.uint32(present: 10, 0)
        w.message(9, ProtoWriter())
        XCTAssertEqual(w.bytes, [0x50, 0x00, 0x4a, 0x00])
    }

    func testOtherFieldUsesTwoByteKey() {
        var w = ProtoWriter()
        w.bytes(255, Array("{}".utf8))
        XCTAssertEqual(w.bytes, [0xfa, 0x0f, 0x02, 0x7b, 0x7d])
    }

    func testPackedVarints() {
        var w = ProtoWriter()
        w.packedUInt32(3, [1, 300])
        XCTAssertEqual(w.bytes, [0x1a, 0x03, 0x01, 0xac, 0x02])
    }
}
