import FuzzKit
import Shared

/// Supervisor ⇄ worker channel messages: a decoded message encodes to bytes that decode to it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzChannel(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let start = UnsafeRawPointer(data)
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let message = try? ChannelMessage.decode(bytes[...]) else { return 0 }
    let again = try? ChannelMessage.decode(message.encode()[...])
    FuzzInput.check(again == message, "channel message does not survive encode/decode: \(message)")
    return 0
}

@_cdecl("FuzzChannel_main")
public func fuzzChannelMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzInput.runDriver(argc, argv, fuzzChannel)
}
