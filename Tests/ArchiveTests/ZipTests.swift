import Foundation
import XCTest
@testable import Archive

final class ZipTests: XCTestCase {
    /// Python zipfile (3.x): member "0" deflated ("hello media " × 20), `_meta` stored.
    static let pythonDeflate = zipHex("""
        504b0304140000000800ceb37e5dfe3dce5d11000000f00000000100000030cb48cdc9c957c84d4dc94c54c818016c00504b03041400\
        00000000000021004595d6e41300000013000000050000005f6d6574615b5b2268656c6c6f2e747874222c2230225d5d504b0102140314\
        0000000800ceb37e5dfe3dce5d11000000f000000001000000000000000000000080010000000030504b01021403140000000000000021\
        004595d6e413000000130000000500000000000000000000008001300000005f6d657461504b0506000000000200020062000000660000\
        000000
        """)
    /// Python zipfile on a non-seekable stream: deflate with a data descriptor (flag bit 3), "streamed " × 10.
    static let pythonStreamed = zipHex("""
        504b0304140008000800ceb37e5d00000000000000000000000001000000612b2e294a4dcc4d4d5128a6360300504b07085c62ad8a0e00\
        00005a000000504b01021403140008000800ceb37e5d5c62ad8a0e0000005a00000001000000000000000000000080010000000061504b\
        050600000000010001002f0000003d0000000000
        """)

    static func zipHex(_ hex: String) -> [UInt8] {
        let digits = Array(hex.filter { $0.isHexDigit }.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }

    func readAll(_ reader: ZipReader, _ name: String, limit: Int = Int.max, piece: Int = 1 << 20) throws -> [UInt8] {
        guard let entry = reader.entry(named: name) else {
            XCTFail("no member \(name)")
            return []
        }
        var out: [UInt8] = []
        let n = try reader.read(entry, limit: limit, piece: piece) { out.append(contentsOf: $0) }
        XCTAssertEqual(n, out.count)
        return out
    }

    func zipError(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> ZipError? {
        do {
            try body()
            XCTFail("no error", file: file, line: line)
        } catch let error as ZipError {
            return error
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
        return nil
    }

    func testReadsPythonDeflateAndStored() throws {
        let reader = try ZipReader(bytes: Self.pythonDeflate)
        XCTAssertEqual(reader.entries.map(\.name), ["0", "_meta"])
        XCTAssertEqual(reader.entries.map(\.method), [8, 0])
        XCTAssertEqual(try readAll(reader, "0"), Array(String(repeating: "hello media ", count: 20).utf8))
        XCTAssertEqual(try readAll(reader, "0", piece: 7), Array(String(repeating: "hello media ", count: 20).utf8))
        XCTAssertEqual(try readAll(reader, "_meta"), Array("[[\"hello.txt\",\"0\"]]".utf8))
    }

    func testReadsDataDescriptorMembers() throws {
        let reader = try ZipReader(bytes: Self.pythonStreamed)
        XCTAssertEqual(try readAll(reader, "a"), Array(String(repeating: "streamed ", count: 10).utf8))
    }

    func testLimitCountsBytesActuallyProduced() throws {
        let reader = try ZipReader(bytes: Self.pythonDeflate)
        let error = zipError { _ = try readAll(reader, "0", limit: 239) }
        XCTAssertEqual(error?.kind, .memberTooLarge)
        XCTAssertEqual(try readAll(reader, "0", limit: 240).count, 240)
        let stored = try ZipReader(bytes: StoredZipWriter.build([("x", [UInt8](repeating: 1, count: 100))]))
        XCTAssertEqual(zipError { _ = try readAll(stored, "x", limit: 99) }?.kind, .memberTooLarge)
    }

    func testLyingDeclaredSizeIsCaught() throws {
        // Declared uncompressed size 240 → 100 (central directory offset 24 in the central entry).
        var bytes = Self.pythonDeflate
        let cd = 0x66
        XCTAssertEqual(Array(bytes[cd..<cd + 4]), [0x50, 0x4b, 0x01, 0x02])
        bytes[cd + 24] = 100
        let reader = try ZipReader(bytes: bytes)
        let error = zipError { _ = try readAll(reader, "0") }
        XCTAssertEqual(error?.kind, .malformed)
        XCTAssertTrue(error?.reason.contains("declares 100") ?? false, "\(String(describing: error))")
    }

    func testCorruptDataFailsCRC() throws {
        var bytes = try StoredZipWriter.build([("a", Array("some content".utf8))])
        bytes[30 + 1 + 3] ^= 0xFF          // a data byte of member "a"
        let reader = try ZipReader(bytes: bytes)
        XCTAssertTrue(zipError { _ = try readAll(reader, "a") }?.reason.contains("CRC") ?? false)
    }

    func testTruncatedAndGarbageArchivesAreRefused() throws {
        let good = try StoredZipWriter.build([("0", [UInt8](repeating: 7, count: 5000)), ("_meta", Array("[]".utf8))])
        for cut in [1, 10, 22, 100, 2600, good.count - 1] {
            XCTAssertNotNil(zipError { _ = try ZipReader(bytes: Array(good[0..<(good.count - cut)])) }, "cut \(cut)")
        }
        XCTAssertNotNil(zipError { _ = try ZipReader(bytes: []) })
        XCTAssertNotNil(zipError { _ = try ZipReader(bytes: Array("PK\u{3}\u{4} not a zip, just text long enough".utf8)) })
        // Deflate data cut short inside a member whose directory survived.
        var bytes = Self.pythonDeflate
        bytes[30 + 1 + 8] = 0xFF; bytes[30 + 1 + 9] = 0xFF  // break the deflate stream
        XCTAssertNotNil(zipError { _ = try readAll(try ZipReader(bytes: bytes), "0") })
    }

    func testDirectoryOffsetsOutOfBoundsAreRefused() throws {
        var bytes = try StoredZipWriter.build([("a", Array("abc".utf8))])
        // Local header offset of "a" (central entry +42) pointing past the archive.
        let cd = 30 + 1 + 3
        bytes[cd + 42] = 0xF0
        XCTAssertNotNil(zipError { _ = try ZipReader(bytes: bytes) })
    }

    func testDuplicateMemberNamesAreRefused() throws {
        let bytes = try StoredZipWriter.build([("a", [1]), ("a", [2])])
        XCTAssertTrue(zipError { _ = try ZipReader(bytes: bytes) }?.reason.contains("two members") ?? false)
    }

    /// Two directory entries sharing one member's bytes (the overlapping-member zip bomb).
    func testOverlappingMembersAreRefused() throws {
        var bytes = try StoredZipWriter.build([("a", Array("shared".utf8)), ("b", Array("other!".utf8))])
        // Point the second central entry's local-header offset (at +42) at the first member.
        let central = bytes.count - 22 - 2 * 47
        XCTAssertEqual(Array(bytes[(central + 47)..<(central + 51)]), [0x50, 0x4b, 0x01, 0x02])
        for k in 0..<4 { bytes[central + 47 + 42 + k] = 0 }
        XCTAssertTrue(zipError { _ = try ZipReader(bytes: bytes) }?.reason.contains("overlap") ?? false)
    }

    func testStoredWriterRoundTripAndExactSize() throws {
        let members: [(name: String, data: [UInt8])] = [("0", Array("first".utf8)), ("1", [UInt8](repeating: 9, count: 70_000)),
                                                         ("_meta", Array("{\"0\":\"a\",\"1\":\"b\"}".utf8))]
        let zip = try StoredZipWriter.build(members)
        XCTAssertEqual(zip.count, StoredZipWriter.archiveSize(members.map { ($0.name.utf8.count, $0.data.count) }))
        let reader = try ZipReader(bytes: zip)
        XCTAssertEqual(reader.entries.map(\.name), ["0", "1", "_meta"])
        for m in members { XCTAssertEqual(try readAll(reader, m.name), m.data) }
        XCTAssertEqual(StoredZipWriter.archiveSize([]), 22)
        XCTAssertEqual(try StoredZipWriter.build([]).count, 22)
    }

    func testStoredWriterOutputIsReadByPythonZipfile() throws {
        let zip = try StoredZipWriter.build([("0", Array("café".utf8)), ("_meta", Array("{\"0\":\"c.txt\"}".utf8))])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ziptest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("t.zip").path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(zip)))
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let python else { throw XCTSkip("python3 not available") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", "import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; "
                       + "assert z.read('0')=='café'.encode(); assert z.namelist()==['0','_meta']", path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
    }

    func testReaderMapsAFile() throws {
        let zip = try StoredZipWriter.build([("0", [UInt8](repeating: 3, count: 3 << 20))])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("zipmap-\(UUID().uuidString)").path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(zip)))
        defer { unlink(path) }
        let fd = open(path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        let reader = try ZipReader(fd: fd)
        close(fd)
        var count = 0
        try reader.read(reader.entries[0], piece: 1 << 20) { count += $0.count; XCTAssertLessThanOrEqual($0.count, 1 << 20) }
        XCTAssertEqual(count, 3 << 20)
        XCTAssertEqual(reader.storedBytes(reader.entries[0])?.count, 3 << 20)
    }

    func testCRC32KnownValue() {
        XCTAssertEqual(CRC32.of(Array("123456789".utf8)), 0xCBF4_3926)
        XCTAssertEqual(CRC32.of([]), 0)
    }
}
