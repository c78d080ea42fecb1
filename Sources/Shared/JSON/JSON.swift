/// A JSON syntax error with the byte offset where it was detected.
public struct JSONError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public let offset: Int
    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

/// Strict RFC 8259 parsing and compact serialization matching serde_json's output.
///
/// Why two JSON parsers: typed request bodies (`{"v": …}`, `{"lastUsn": …}`) are decoded into
/// Codable structs with FoundationEssentials' `JSONDecoder`. The collection's own JSON (decks,
/// configs, note types, sync chunks) goes through this one instead, because it must keep what
/// `JSONDecoder` discards: object key order, the difference between `1` and `1.0`, unknown keys,
/// and a byte-exact re-serialisation in serde_json's format. Nesting is bounded (`maxDepth`).
public enum JSON {
    /// Nesting deeper than this (arrays + objects) is refused.
    public static let maxDepth = 256

    /// Parses one JSON value; leading/trailing whitespace is allowed, anything else after it is not.
    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBufferPointer { buf in
            var p = JSONParser(buf)
            p.skipWhitespace()
            let v = try p.parseValue(depth: 0)
            p.skipWhitespace()
            if p.pos != buf.count { throw p.error("trailing characters after the value") }
            return v
        }
    }

    public static func parse(_ text: String) throws -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Compact serialization (no whitespace), escaping and number formats as serde_json.
    public static func serialize(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        write(value, into: &out)
        return out
    }

    public static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: [0x6e, 0x75, 0x6c, 0x6c])
        case .bool(let b): out.append(contentsOf: b ? Array("true".utf8) : Array("false".utf8))
        case .int(let i): writeInt(i, into: &out)
        case .double(let d): writeDouble(d, into: &out)
        case .string(let s): writeString(s, into: &out)
        case .array(let a):
            out.append(0x5b)
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(0x2c) }
                write(v, into: &out)
            }
            out.append(0x5d)
        case .object(let o):
            out.append(0x7b)
            for (i, e) in o.entries.enumerated() {
                if i > 0 { out.append(0x2c) }
                writeString(e.key, into: &out)
                out.append(0x3a)
                write(e.value, into: &out)
            }
            out.append(0x7d)
        }
    }

    /// Decimal digits appended straight to `out` (no temporary allocation).
    public static func writeInt(_ i: Int64, into out: inout [UInt8]) {
        if i == 0 { out.append(0x30); return }
        if i < 0 { out.append(0x2d) }
        var mag = i.magnitude
        let start = out.count
        while mag > 0 {
            out.append(0x30 + UInt8(truncatingIfNeeded: mag % 10))
            mag /= 10
        }
        out[start...].reverse()
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(0x22)
        var s = s
        s.withUTF8 { buf in
            // Runs of bytes that need no escape are copied at once.
            var runStart = 0
            for (i, b) in buf.enumerated() where b < 0x20 || b == 0x22 || b == 0x5c {
                if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[runStart..<i])) }
                runStart = i + 1
                switch b {
                case 0x22: out.append(0x5c); out.append(0x22)
                case 0x5c: out.append(0x5c); out.append(0x5c)
                case 0x0a: out.append(0x5c); out.append(0x6e)
                case 0x0d: out.append(0x5c); out.append(0x72)
                case 0x09: out.append(0x5c); out.append(0x74)
                case 0x08: out.append(0x5c); out.append(0x62)
                case 0x0c: out.append(0x5c); out.append(0x66)
                default:
                    out.append(0x5c); out.append(0x75); out.append(0x30); out.append(0x30)
                    out.append(hexDigits[Int(b >> 4)]); out.append(hexDigits[Int(b & 0xf)])
                }
            }
            if runStart < buf.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[runStart...])) }
        }
        out.append(0x22)
    }

    /// Shortest round-trip decimal, laid out as the `ryu` crate (used by serde_json) does for f64:
    /// `2.0`, `0.9`, `1e-7`, `1.5e300`, `1e16`; non-finite values become `null`.
    static func writeDouble(_ d: Double, into out: inout [UInt8]) {
        guard d.isFinite else { out.append(contentsOf: Array("null".utf8)); return }
        if d.sign == .minus { out.append(0x2d) }
        if d == 0 { out.append(contentsOf: [0x30, 0x2e, 0x30]); return }
        let (digits, kk) = shortestDigits(d.magnitude)
        layoutRyu(digits: digits, kk: kk, maxPlain: 16, minExp: -5, into: &out)
    }

    /// f32 layout of `ryu` (serde_json serializing an `f32`): plain up to 13 integer digits.
    public static func serializeFloat32(_ f: Float) -> [UInt8] {
        var out: [UInt8] = []
        guard f.isFinite else { return Array("null".utf8) }
        if f.sign == .minus { out.append(0x2d) }
        if f == 0 { out.append(contentsOf: [0x30, 0x2e, 0x30]); return out }
        let (digits, kk) = shortestDigits(f.magnitude.description)
        layoutRyu(digits: digits, kk: kk, maxPlain: 13, minExp: -6, into: &out)
        return out
    }

    private static func shortestDigits(_ d: Double) -> ([UInt8], Int) {
        shortestDigits(d.description)
    }

    /// Splits Swift's shortest description ("1.25", "1e-07", "1.5e+300") into significant digits
    /// and kk, where value = 0.d1d2… × 10^kk.
    private static func shortestDigits(_ text: String) -> ([UInt8], Int) {
        var digits: [UInt8] = []
        var pointPos: Int? = nil
        var exp = 0
        var bytes = Array(text.utf8)[...]
        if let e = bytes.firstIndex(where: { $0 == 0x65 || $0 == 0x45 }) {
            exp = Int(String(decoding: bytes[(e + 1)...], as: UTF8.self).replacingPlus()) ?? 0
            bytes = bytes[..<e]
        }
        for b in bytes {
            if b == 0x2e { pointPos = digits.count } else { digits.append(b) }
        }
        var intDigits = pointPos ?? digits.count
        // strip leading zeros
        while let f = digits.first, f == 0x30, digits.count > 1 {
            digits.removeFirst()
            intDigits -= 1
        }
        while let l = digits.last, l == 0x30, digits.count > 1 { digits.removeLast() }
        return (digits, intDigits + exp)
    }

    private static func layoutRyu(digits: [UInt8], kk: Int, maxPlain: Int, minExp: Int, into out: inout [UInt8]) {
        let length = digits.count
        let k = kk - length
        if k >= 0 && kk <= maxPlain {
            out.append(contentsOf: digits)
            for _ in length..<kk { out.append(0x30) }
            out.append(contentsOf: [0x2e, 0x30])
        } else if kk > 0 && kk <= maxPlain {
            out.append(contentsOf: digits[0..<kk])
            out.append(0x2e)
            out.append(contentsOf: digits[kk...])
        } else if kk > minExp && kk <= 0 {
            out.append(contentsOf: [0x30, 0x2e])
            for _ in 0..<(-kk) { out.append(0x30) }
            out.append(contentsOf: digits)
        } else {
            out.append(digits[0])
            if length > 1 {
                out.append(0x2e)
                out.append(contentsOf: digits[1...])
            }
            out.append(0x65)
            writeInt(Int64(kk - 1), into: &out)
        }
    }
}

extension String {
    fileprivate func replacingPlus() -> String { hasPrefix("+") ? String(dropFirst()) : self }
}
