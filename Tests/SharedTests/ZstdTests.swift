import Foundation
import XCTest
@testable import Shared

final class ZstdTests: XCTestCase {
    // External vectors, produced when these tests were written:
    /// `printf '{"v":11,"cv":"anki,26.09.3,linux"}' > f; zstd -c --no-check f` (content size, no checksum)
    static let cliFrame = hexBytes("28b52ffd20221101007b2276223a31312c226376223a22616e6b692c32362e30392e332c6c696e7578227d")
    /// The same text piped through `zstd -c` from stdin: no content size, with checksum.
    static let cliStreamFrame = hexBytes("28b52ffd04581101007b2276223a31312c226376223a22616e6b692c32362e30392e332c6c696e7578227de4facd62")
    static let cliText = Array("{\"v\":11,\"cv\":\"anki,26.09.3,linux\"}".utf8)
    /// Python zstandard 0.25 compressobj, write_content_size=False, write_checksum=False (like the Rust client).
    static let pythonStreamFrame = hexBytes("28b52ffd00584d0100d868656c6c6f207a7374642073747265616d696e67206672616d650a0400874a021840a53c16af1401")
    static let pythonStreamText = Array(String(repeating: "hello hello hello hello zstd streaming frame\n", count: 3).utf8)
    /// Python zstandard, level 19 with checksum, of "abc".
    static let checksumFrame = hexBytes("28b52ffd2403190000616263990977ad")
    /// Python zstandard, window_log=27 (128 MiB window), no content size, of "abc" * 10.
    static let bigWindowFrame = hexBytes("28b52ffd00884d0000186162630100866e08")

    func decompressError(_ data: [UInt8], limit: Int = Int.max, file: StaticString = #filePath, line: UInt = #line) -> ZstdError? {
        do {
            let out = try ZstdDecompressor.decompress(data, limit: limit)
            XCTFail("decoded \(out.count) bytes", file: file, line: line)
            return nil
        } catch let error as ZstdError {
            return error
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
            return nil
        }
    }

    /// Decodes feeding `pieceSize` bytes at a time.
    func decodeInPieces(_ frame: [UInt8], pieceSize: Int, limit: Int = Int.max) throws -> [UInt8] {
        let d = ZstdDecompressor(limit: limit)
        var out: [UInt8] = []
        var offset = 0
        while offset < frame.count {
            let end = min(offset + pieceSize, frame.count)
            try Array(frame[offset..<end]).withUnsafeBytes { try d.feed($0) { out.append(contentsOf: $0) } }
            offset = end
        }
        try d.finish()
        XCTAssertEqual(d.totalOut, out.count)
        return out
    }

    // MARK: external frames

    func testDecodesExternalFrames() throws {
        XCTAssertEqual(try ZstdDecompressor.decompress(Self.cliFrame, limit: 1000), Self.cliText)
        XCTAssertEqual(try ZstdDecompressor.decompress(Self.cliStreamFrame, limit: 1000), Self.cliText)
        XCTAssertEqual(try ZstdDecompressor.decompress(Self.pythonStreamFrame, limit: 1000), Self.pythonStreamText)
        XCTAssertEqual(try ZstdDecompressor.decompress(Self.checksumFrame, limit: 1000), Array("abc".utf8))
    }

    func testExternalFramesOneByteAtATime() throws {
        // After the frame ends, the decoder's return value is a hint, not an error (SWIFT-NOTES §2).
        XCTAssertEqual(try decodeInPieces(Self.cliFrame, pieceSize: 1), Self.cliText)
        XCTAssertEqual(try decodeInPieces(Self.cliStreamFrame, pieceSize: 1), Self.cliText)
        XCTAssertEqual(try decodeInPieces(Self.pythonStreamFrame, pieceSize: 1), Self.pythonStreamText)
        XCTAssertEqual(try decodeInPieces(Self.checksumFrame, pieceSize: 1), Array("abc".utf8))
    }

    func testOwnFramesAreReadableByCLI() throws {
        let zstd = "/usr/bin/zstd"
        guard FileManager.default.isExecutableFile(atPath: zstd) else { throw XCTSkip("no zstd CLI") }
        let input = Array(String(repeating: "{\"cards\":[],\"decks\":[],\"notes\":[]}", count: 500).utf8)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("zstdtest-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let framePath = dir.appendingPathComponent("in.zst")
        let outPath = dir.appendingPathComponent("out")
        try Data(ZstdCompressor.compress(input)).write(to: framePath)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: zstd)
        p.arguments = ["-q", "-d", "-f", framePath.path, "-o", outPath.path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(Array(try Data(contentsOf: outPath)), input)
    }

    // MARK: round trips

    func testRoundTripManySizes() throws {
        let block = 128 * 1024
        for size in [1, 2, 3, 100, 4095, 4096, block - 1, block, block + 1, 3 * block + 17] {
            let text = Array(String(repeating: "{\"id\":1234567,\"name\":\"deck\"}", count: size / 28 + 1).utf8.prefix(size))
            let random = pseudoRandomBytes(size, seed: UInt64(size))
            for input in [text, random] {
                let frame = ZstdCompressor.compress(input)
                XCTAssertEqual(try ZstdDecompressor.decompress(frame, limit: size), input, "size \(size)")
            }
        }
    }

    func testEmptyPayloadRoundTrip() throws {
        let frame = ZstdCompressor.compress([])
        XCTAssertGreaterThan(frame.count, 4)
        XCTAssertEqual(Array(frame.prefix(4)), [0x28, 0xb5, 0x2f, 0xfd])
        XCTAssertEqual(try ZstdDecompressor.decompress(frame, limit: 0), [])
    }

    func testDecompressOfEmptyInputThrows() {
        guard let error = decompressError([]) else { return }
        if case .corrupt = error {} else { XCTFail("expected .corrupt, got \(error)") }
        let d = ZstdDecompressor()
        XCTAssertThrowsError(try d.finish())
    }

    func testFiveMegabytesRandomRoundTrip() throws {
        let input = pseudoRandomBytes(5 * 1024 * 1024, seed: 42)
        let frame = ZstdCompressor.compress(input, level: 1)
        XCTAssertEqual(try ZstdDecompressor.decompress(frame, limit: input.count), input)
        // Fed in odd pieces too.
        XCTAssertEqual(try decodeInPieces(frame, pieceSize: 65_537), input)
    }

    func testCompressibleDataShrinks() throws {
        let input = Array(String(repeating: "abcdefgh", count: 100_000).utf8)
        let frame = ZstdCompressor.compress(input)
        XCTAssertLessThan(frame.count, input.count / 100)
        XCTAssertEqual(try ZstdDecompressor.decompress(frame, limit: input.count), input)
    }

    func testStreamingCompressorInPieces() throws {
        let input = pseudoRandomBytes(300_000, seed: 7) + Array(String(repeating: "x", count: 300_000).utf8)
        let c = ZstdCompressor()
        var frame: [UInt8] = []
        var offset = 0
        while offset < input.count {
            let end = min(offset + 10_000, input.count)
            try Array(input[offset..<end]).withUnsafeBytes { try c.feed($0) { frame.append(contentsOf: $0) } }
            offset = end
        }
        try c.finish { frame.append(contentsOf: $0) }
        XCTAssertEqual(try ZstdDecompressor.decompress(frame, limit: input.count), input)
        XCTAssertEqual(try decodeInPieces(frame, pieceSize: 1), input)
    }

    func testMultiBlockFrameOneByteAtATime() throws {
        let input = pseudoRandomBytes(100_000, seed: 3) + Array(String(repeating: "yz", count: 150_000).utf8)
        let frame = ZstdCompressor.compress(input)
        XCTAssertEqual(try decodeInPieces(frame, pieceSize: 1), input)
        XCTAssertEqual(try decodeInPieces(frame, pieceSize: 3), input)
    }

    func testSinkErrorPropagates() {
        struct Stop: Error {}
        let d = ZstdDecompressor()
        XCTAssertThrowsError(try Self.cliFrame.withUnsafeBytes { try d.feed($0) { _ in throw Stop() } }) {
            XCTAssertTrue($0 is Stop)
        }
    }

    // MARK: refusals

    func testTruncatedFrames() {
        for frame in [Self.cliFrame, Self.cliStreamFrame, Self.pythonStreamFrame, Self.checksumFrame, ZstdCompressor.compress(pseudoRandomBytes(200_000))] {
            for cut in [1, 3, 4, 5, 6, frame.count / 2, frame.count - 1] {
                XCTAssertEqual(decompressError(Array(frame.prefix(cut))), .truncated, "cut at \(cut) of \(frame.count)")
            }
        }
    }

    func testGarbageIsCorrupt() {
        for garbage in [Array("definitely not a zstd frame".utf8), pseudoRandomBytes(1000), [0x28, 0xb5, 0x2f, 0xfd, 0x08, 0, 0, 0, 0]] {
            guard let error = decompressError(garbage) else { continue }
            if case .corrupt(let why) = error { XCTAssertFalse(why.isEmpty) } else { XCTFail("expected .corrupt, got \(error)") }
        }
    }

    func testGzipBodyIsCorrupt() {
        let gzipHeader: [UInt8] = [0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03, 0x4b, 0x4c, 0x4a, 0x06, 0x00]
        guard let error = decompressError(gzipHeader) else { return }
        if case .corrupt = error {} else { XCTFail("expected .corrupt, got \(error)") }
    }

    func testBadChecksumIsCorrupt() {
        var frame = Self.checksumFrame
        frame[frame.count - 1] ^= 0xff
        guard let error = decompressError(frame) else { return }
        if case .corrupt = error {} else { XCTFail("expected .corrupt, got \(error)") }
    }

    func testOutputLimit() throws {
        let input = Array(String(repeating: "0123456789", count: 100_000).utf8)
        let frame = ZstdCompressor.compress(input)
        XCTAssertEqual(try ZstdDecompressor.decompress(frame, limit: input.count), input, "a limit equal to the size is fine")
        XCTAssertEqual(decompressError(frame, limit: input.count - 1), .outputLimit(input.count - 1))
        XCTAssertEqual(decompressError(frame, limit: 1000), .outputLimit(1000))
        XCTAssertEqual(decompressError(Self.cliFrame, limit: 0), .outputLimit(0))
        // The limit also holds when fed in pieces, and the sink never sees more than the limit.
        let d = ZstdDecompressor(limit: 5000)
        var delivered = 0
        XCTAssertThrowsError(try frame.withUnsafeBytes { try d.feed($0) { delivered += $0.count } }) {
            XCTAssertEqual($0 as? ZstdError, .outputLimit(5000))
        }
        XCTAssertLessThanOrEqual(delivered, 5000)
    }

    func testWindowLimit() throws {
        guard let error = decompressError(Self.bigWindowFrame) else { return }
        if case .corrupt = error {} else { XCTFail("expected .corrupt, got \(error)") }
        let d = ZstdDecompressor(limit: 100, windowLogMax: 27)
        var out: [UInt8] = []
        try Self.bigWindowFrame.withUnsafeBytes { try d.feed($0) { out.append(contentsOf: $0) } }
        try d.finish()
        XCTAssertEqual(out, Array(String(repeating: "abc", count: 10).utf8))
    }

    func testTrailingDataInSameBuffer() {
        XCTAssertEqual(decompressError(Self.cliFrame + [0]), .trailingData)
        XCTAssertEqual(decompressError(Self.cliFrame + Self.cliFrame), .trailingData)
        XCTAssertEqual(decompressError(Self.pythonStreamFrame + Array("GET / HTTP/1.1\r\n".utf8)), .trailingData)
    }

    func testTrailingDataInLaterFeed() throws {
        let d = ZstdDecompressor()
        var out: [UInt8] = []
        try Self.cliStreamFrame.withUnsafeBytes { try d.feed($0) { out.append(contentsOf: $0) } }
        try d.finish()
        XCTAssertEqual(out, Self.cliText)
        // An empty feed is a no-op, a non-empty one is refused.
        try [UInt8]().withUnsafeBytes { try d.feed($0) { _ in XCTFail("no output expected") } }
        XCTAssertThrowsError(try [UInt8](arrayLiteral: 0x28).withUnsafeBytes { try d.feed($0) { _ in } }) {
            XCTAssertEqual($0 as? ZstdError, .trailingData)
        }
    }

    func testTrailingDataFedOneByteAtATime() {
        XCTAssertThrowsError(try decodeInPieces(Self.checksumFrame + [0x00], pieceSize: 1)) {
            XCTAssertEqual($0 as? ZstdError, .trailingData)
        }
    }

    func testErrorDescriptions() {
        XCTAssertTrue(ZstdError.outputLimit(7).description.contains("7"))
        XCTAssertTrue(ZstdError.corrupt("Unknown frame descriptor").description.contains("Unknown frame descriptor"))
        XCTAssertFalse(ZstdError.truncated.description.isEmpty)
        XCTAssertFalse(ZstdError.trailingData.description.isEmpty)
    }
}
