import FuzzKit
import Shared

/// Zstd request framing fed in pieces, with the output limit and window cap of a request body.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzZstd(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let decoder = ZstdDecompressor(limit: FuzzInput.outputLimit)
    let input = UnsafeRawBufferPointer(start: UnsafeRawPointer(data), count: count)
    FuzzInput.decompress(input, refusing: ZstdError.self,
                         feed: { piece, sink in try decoder.feed(piece) { sink($0) } }, finish: { try decoder.finish() })
    return 0
}

@_cdecl("FuzzZstd_main")
public func fuzzZstdMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzInput.runDriver(argc, argv, fuzzZstd)
}
