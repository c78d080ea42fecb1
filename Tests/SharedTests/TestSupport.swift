import Foundation
import XCTest

/// Bytes from a hex string (whitespace ignored). Test vectors only.
func hexBytes(_ hex: String, file: StaticString = #filePath, line: UInt = #line) -> [UInt8] {
    let digits = Array(hex.filter { !$0.isWhitespace }.utf8)
    precondition(digits.count % 2 == 0, "odd hex length")
    var out: [UInt8] = []
    var i = 0
    while i < digits.count {
        let pair = String(decoding: digits[i..<(i + 2)], as: UTF8.self)
        out.append(UInt8(pair, radix: 16)!)
        i += 2
    }
    return out
}

/// Deterministic pseudo-random bytes (xorshift64*), so failures reproduce.
func pseudoRandomBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed == 0 ? 1 : seed
    var out = [UInt8]()
    out.reserveCapacity(count)
    while out.count < count {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        let v = state &* 0x2545_F491_4F6C_DD1D
        for k in 0..<8 where out.count < count { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(k)))) }
    }
    return out
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}
