import FuzzKit
import Shared

/// The legacy form as the supervisor reads it (chunked framing, then multipart), in pieces.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultipart(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let start = UnsafeRawPointer(data)
    let input = UnsafeRawBufferPointer(start: start, count: count)
    var scanner = LegacyFormScanner(boundary: Array("Anki-sync-boundary".utf8), framing: .chunked)
    var data = 0
    FuzzInput.refusing(HTTPError.self) {
        try FuzzInput.pieces(input) { piece in
            var offset = 0
            while offset < piece.count && !scanner.bodyDone {
                let used = try scanner.feed(UnsafeRawBufferPointer(rebasing: piece[offset...])) { data += $0.count }
                if used == 0 { break }
                offset += used
            }
        }
        _ = try scanner.fields.payload([], limit: 1024)
    }
    FuzzInput.check(data <= count, "more form data than input")
    return 0
}

@_cdecl("FuzzMultipart_main")
public func fuzzMultipartMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzInput.runDriver(argc, argv, fuzzMultipart)
}
