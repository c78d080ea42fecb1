import FuzzKit
import Shared

/// The request-head parser: any bytes either parse or throw HTTPError, and a parsed head's
/// framing is one the body decoder accepts.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPHead(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let start = UnsafeRawPointer(data)
    let input = UnsafeRawBufferPointer(start: start, count: count)
    let bytes = Array(input)
    guard let end = HTTPHeadParser.headEnd(in: input) else { return 0 }
    FuzzInput.check(end <= bytes.count, "head end \(end) past \(bytes.count) bytes")
    FuzzInput.check(HTTPHeadParser.headEnd(in: bytes) == end, "headEnd differs for arrays")
    if let head = try? HTTPHeadParser.parse(bytes[..<end]) {
        _ = head.header("content-length")
        _ = BodyDecoder(framing: head.bodyFraming)
    }
    return 0
}

@_cdecl("FuzzHTTPHead_main")
public func fuzzHTTPHeadMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzInput.runDriver(argc, argv, fuzzHTTPHead)
}
