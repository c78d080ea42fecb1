import Archive
import FuzzKit

/// Gzip (legacy `c=1` data) in pieces, with an output limit.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGzip(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    guard let gzip = try? GzipInflater(limit: FuzzInput.outputLimit) else { return 0 }
    FuzzInput.decompress(UnsafeRawBufferPointer(start: UnsafeRawPointer(data), count: count), refusing: GzipError.self,
                         feed: { piece, sink in try gzip.feed(piece) { sink($0) } }, finish: { try gzip.finish() })
    return 0
}

@_cdecl("FuzzGzip_main")
public func fuzzGzipMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzInput.runDriver(argc, argv, fuzzGzip)
}
