import Archive
import FuzzKit

/// The zip reader: any archive parses or throws ZipError; every member reads within its limit.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzZip(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let start = UnsafeRawPointer(data)
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let reader = try? ZipReader(bytes: bytes) else { return 0 }
    let limit = 1 << 20
    for entry in reader.entries {
        FuzzInput.check(entry.dataOffset + entry.compressedSize <= count, "member data outside the archive")
        var produced = 0
        var complete = false
        FuzzInput.refusing(ZipError.self) {
            try reader.read(entry, limit: limit, piece: 4096) { produced += $0.count }
            complete = true
        }
        FuzzInput.check(produced <= limit && (!complete || produced == entry.uncompressedSize), "member size not enforced")
    }
    return 0
}

@_cdecl("FuzzZip_main")
public func fuzzZipMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzInput.runDriver(argc, argv, fuzzZip)
}
