import FuzzKit
import Shared

/// The body decoder (Content-Length and chunked) fed in pieces: it never consumes more than it
/// is given, never yields more body than it consumed, and stops for good once done.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBody(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let start = UnsafeRawPointer(data)
    let input = UnsafeRawBufferPointer(start: start, count: count)
    guard count >= 2 else { return 0 }
    let framing: BodyFraming = input[0] & 1 == 0 ? .chunked : .length(Int(input[0] >> 1) * 7)
    var decoder = BodyDecoder(framing: framing)
    var body = 0
    FuzzInput.refusing(HTTPError.self) {
        try FuzzInput.pieces(UnsafeRawBufferPointer(rebasing: input[1...])) { piece in
            var offset = 0
            while offset < piece.count && !decoder.isDone {
                let used = try decoder.feed(UnsafeRawBufferPointer(rebasing: piece[offset...])) { body += $0.count }
                FuzzInput.check(used <= piece.count - offset, "consumed more than given")
                if used == 0 { break }
                offset += used
            }
        }
    }
    FuzzInput.check(body <= count, "more body than input")
    return 0
}

@_cdecl("FuzzBody_main")
public func fuzzBodyMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzInput.runDriver(argc, argv, fuzzBody)
}
