import FuzzKit
import Shared

/// The JSON parser: a parsed value serialises to JSON that parses back to the same value.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let start = UnsafeRawPointer(data)
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let value = try? JSON.parse(bytes) else { return 0 }
    let text = JSON.serialize(value)
    guard let again = try? JSON.parse(text) else {
        FuzzInput.check(false, "serialised JSON does not parse: \(String(decoding: text, as: UTF8.self))")
        return 0
    }
    FuzzInput.check(JSON.serialize(again) == text, "serialisation is not stable")
    return 0
}

@_cdecl("FuzzJSON_main")
public func fuzzJSONMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzInput.runDriver(argc, argv, fuzzJSON)
}
