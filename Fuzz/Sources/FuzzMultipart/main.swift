import FuzzKit
import Shared

/// A legacy form as both processes read it (chunked framing, then multipart), in pieces.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultipart(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let start = UnsafeRawPointer(data)
    let input = UnsafeRawBufferPointer(start: start, count: count)
    var body = BodyDecoder(framing: .chunked)
    var form = LegacyFormParser(boundary: Array("Anki-sync-boundary".utf8))
    var data = 0
    FuzzInput.refusing(HTTPError.self) {
        try FuzzInput.pieces(input) { piece in
            var offset = 0
            while offset < piece.count && !body.isDone {
                let used = try body.feed(UnsafeRawBufferPointer(rebasing: piece[offset...])) { chunk in
                    try form.feed(chunk) { data += $0.count }
                }
                if used == 0 { break }
                offset += used
            }
        }
        if body.isDone { try form.finish() }
        _ = try form.fields.payload([], limit: 1024)
    }
    FuzzInput.check(data <= count, "more form data than input")
    return 0
}

@_cdecl("FuzzMultipart_main")
public func fuzzMultipartMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzInput.runDriver(argc, argv, fuzzMultipart)
}
