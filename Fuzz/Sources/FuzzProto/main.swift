import FuzzKit
@testable import Storage

/// The protobuf reader over collection blobs (uploaded collections are client data): every
/// accessor on every tag seen either answers or throws CodecError.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzProto(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let start = UnsafeRawPointer(data)
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let reader = try? ProtoReader(bytes) else { return 0 }
    for tag in Set(reader.fields.map(\.tag)).sorted().prefix(16) {
        _ = try? reader.uint32(tag)
        _ = try? reader.int64(tag)
        _ = try? reader.float(tag)
        _ = try? reader.string(tag)
        _ = try? reader.uint32s(tag)
        _ = try? reader.floats(tag)
        _ = try? reader.messages(tag).map { try $0.string(1) }
        _ = try? reader.message(tag)?.uint32s(1)
    }
    return 0
}

@_cdecl("FuzzProto_main")
public func fuzzProtoMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzInput.runDriver(argc, argv, fuzzProto)
}
