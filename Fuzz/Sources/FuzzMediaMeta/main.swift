import FuzzKit
import Storage

/// A media upload's `_meta` and its file-name rules: every accepted new-file name passes the
/// basic rules too, and no accepted name is empty.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMediaMeta(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let start = UnsafeRawPointer(data)
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let entries = try? MediaManifest.parse(bytes) else { return 0 }
    for entry in entries {
        FuzzInput.check(!entry.name.isEmpty && MediaNames.problem(with: entry.name) == nil, "bad name accepted")
        if entry.member != nil { FuzzInput.check(MediaNames.newFileProblem(with: entry.name) == nil, "bad new name accepted") }
    }
    return 0
}

@_cdecl("FuzzMediaMeta_main")
public func fuzzMediaMetaMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzInput.runDriver(argc, argv, fuzzMediaMeta)
}
