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

/// Recursive-descent parser over a byte buffer.
struct JSONParser {
    let buf: UnsafeBufferPointer<UInt8>
    var pos = 0

    init(_ buf: UnsafeBufferPointer<UInt8>) { self.buf = buf }

    func error(_ message: String, at offset: Int? = nil) -> JSONError {
        JSONError(message: message, offset: offset ?? pos)
    }

    mutating func skipWhitespace() {
        while pos < buf.count {
            switch buf[pos] {
            case 0x20, 0x09, 0x0a, 0x0d: pos += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard pos < buf.count else { throw error("unexpected end of input") }
        switch buf[pos] {
        case 0x7b: return try parseObject(depth: depth + 1)
        case 0x5b: return try parseArray(depth: depth + 1)
        case 0x22: return .string(try parseString())
        case 0x74: try literal("true"); return .bool(true)
        case 0x66: try literal("false"); return .bool(false)
        case 0x6e: try literal("null"); return .null
        case 0x2d, 0x30...0x39: return try parseNumber()
        default: throw error("unexpected character")
        }
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        let start = pos
        for i in 0..<n {
            guard pos + i < buf.count, buf[pos + i] == word.utf8Start[i] else {
                throw error("invalid literal", at: start)
            }
        }
        pos += n
    }

    private mutating func parseArray(depth: Int) throws -> JSONValue {
        if depth > JSON.maxDepth { throw error("nesting deeper than \(JSON.maxDepth)") }
        pos += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if pos < buf.count, buf[pos] == 0x5d { pos += 1; return .array(items) }
        while true {
            skipWhitespace()
            items.append(try parseValue(depth: depth))
            skipWhitespace()
            guard pos < buf.count else { throw error("unterminated array") }
            if buf[pos] == 0x2c { pos += 1; continue }
            if buf[pos] == 0x5d { pos += 1; return .array(items) }
            throw error("expected ',' or ']' in array")
        }
    }

    private mutating func parseObject(depth: Int) throws -> JSONValue {
        if depth > JSON.maxDepth { throw error("nesting deeper than \(JSON.maxDepth)") }
        pos += 1
        var entries: [(key: String, value: JSONValue)] = []
        var index: [String: Int]? = nil  // built lazily for larger objects
        skipWhitespace()
        if pos < buf.count, buf[pos] == 0x7d { pos += 1; return .object(JSONObject(uniqueEntries: entries)) }
        while true {
            skipWhitespace()
            guard pos < buf.count else { throw error("unterminated object") }
            guard buf[pos] == 0x22 else { throw error("expected a string key in object") }
            let key = try parseString()
            skipWhitespace()
            guard pos < buf.count, buf[pos] == 0x3a else { throw error("expected ':' after object key") }
            pos += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            // duplicate keys: the first position stays, the last value wins
            var existing: Int? = nil
            if entries.count >= 16 {
                if index == nil {
                    var m: [String: Int] = [:]
                    for (i, e) in entries.enumerated() { m[e.key] = i }
                    index = m
                }
                existing = index![key]
            } else {
                existing = entries.firstIndex { $0.key == key }
            }
            if let i = existing {
                entries[i].value = value
            } else {
                index?[key] = entries.count
                entries.append((key: key, value: value))
            }
            skipWhitespace()
            guard pos < buf.count else { throw error("unterminated object") }
            if buf[pos] == 0x2c { pos += 1; continue }
            if buf[pos] == 0x7d { pos += 1; return .object(JSONObject(uniqueEntries: entries)) }
            throw error("expected ',' or '}' in object")
        }
    }

    private static func hexValue(_ b: UInt8) -> UInt32? {
        switch b {
        case 0x30...0x39: return UInt32(b - 0x30)
        case 0x61...0x66: return UInt32(b - 0x61 + 10)
        case 0x41...0x46: return UInt32(b - 0x41 + 10)
        default: return nil
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard pos + 4 <= buf.count else { throw error("truncated \\u escape") }
        var v: UInt32 = 0
        for i in 0..<4 {
            guard let h = Self.hexValue(buf[pos + i]) else { throw error("invalid \\u escape", at: pos + i) }
            v = v << 4 | h
        }
        pos += 4
        return v
    }

    private mutating func parseString() throws -> String {
        let start = pos
        pos += 1
        // Fast path: no escapes.
        var scan = pos
        var ascii = true
        while scan < buf.count {
            let b = buf[scan]
            if b == 0x22 || b == 0x5c || b < 0x20 { break }
            if b >= 0x80 { ascii = false }
            scan += 1
        }
        guard scan < buf.count else { throw error("unterminated string", at: start) }
        if buf[scan] == 0x22 {
            let slice = UnsafeBufferPointer(rebasing: buf[pos..<scan])
            if !ascii, let bad = utf8InvalidOffset(slice) { throw error("invalid UTF-8 in string", at: pos + bad) }
            pos = scan + 1
            return String(decoding: slice, as: UTF8.self)
        }
        // Slow path with escapes.
        var out: [UInt8] = Array(UnsafeBufferPointer(rebasing: buf[pos..<scan]))
        pos = scan
        while true {
            guard pos < buf.count else { throw error("unterminated string", at: start) }
            let b = buf[pos]
            if b == 0x22 { pos += 1; break }
            if b < 0x20 { throw error("control character in string") }
            if b != 0x5c { out.append(b); pos += 1; continue }
            pos += 1
            guard pos < buf.count else { throw error("unterminated string", at: start) }
            let e = buf[pos]
            pos += 1
            switch e {
            case 0x22: out.append(0x22)
            case 0x5c: out.append(0x5c)
            case 0x2f: out.append(0x2f)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0c)
            case 0x6e: out.append(0x0a)
            case 0x72: out.append(0x0d)
            case 0x74: out.append(0x09)
            case 0x75:
                let escStart = pos - 2
                var c = try hex4()
                if c >= 0xD800 && c < 0xDC00 {
                    guard pos + 2 <= buf.count, buf[pos] == 0x5c, buf[pos + 1] == 0x75 else {
                        throw error("lone leading surrogate in \\u escape", at: escStart)
                    }
                    pos += 2
                    let lo = try hex4()
                    guard lo >= 0xDC00 && lo < 0xE000 else {
                        throw error("invalid trailing surrogate in \\u escape", at: escStart)
                    }
                    c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00)
                } else if c >= 0xDC00 && c < 0xE000 {
                    throw error("lone trailing surrogate in \\u escape", at: escStart)
                }
                appendUTF8(c, to: &out)
            default:
                throw error("invalid escape", at: pos - 2)
            }
        }
        let bad = out.withUnsafeBufferPointer { utf8InvalidOffset($0) }
        if bad != nil { throw error("invalid UTF-8 in string", at: start) }
        return String(decoding: out, as: UTF8.self)
    }

    private func appendUTF8(_ c: UInt32, to out: inout [UInt8]) {
        switch c {
        case 0..<0x80: out.append(UInt8(c))
        case 0x80..<0x800:
            out.append(0xC0 | UInt8(c >> 6)); out.append(0x80 | UInt8(c & 0x3F))
        case 0x800..<0x10000:
            out.append(0xE0 | UInt8(c >> 12)); out.append(0x80 | UInt8((c >> 6) & 0x3F))
            out.append(0x80 | UInt8(c & 0x3F))
        default:
            out.append(0xF0 | UInt8(c >> 18)); out.append(0x80 | UInt8((c >> 12) & 0x3F))
            out.append(0x80 | UInt8((c >> 6) & 0x3F)); out.append(0x80 | UInt8(c & 0x3F))
        }
    }

    /// Offset of the first invalid UTF-8 sequence, or nil (rejects overlongs and surrogates).
    private func utf8InvalidOffset(_ s: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = 0
        let n = s.count
        while i < n {
            let b = s[i]
            if b < 0x80 { i += 1; continue }
            var need = 0
            var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
            switch b {
            case 0xC2...0xDF: need = 1
            case 0xE0: need = 2; lo = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: need = 2
            case 0xED: need = 2; hi = 0x9F
            case 0xF0: need = 3; lo = 0x90
            case 0xF1...0xF3: need = 3
            case 0xF4: need = 3; hi = 0x8F
            default: return i
            }
            guard i + need < n else { return i }
            let c1 = s[i + 1]
            if c1 < lo || c1 > hi { return i }
            var j = 2
            while j <= need {
                let c = s[i + j]
                if c < 0x80 || c > 0xBF { return i }
                j += 1
            }
            i += need + 1
        }
        return nil
    }

    private mutating func parseNumber() throws -> JSONValue {
        let start = pos
        var negative = false
        if buf[pos] == 0x2d { negative = true; pos += 1 }
        guard pos < buf.count, buf[pos] >= 0x30, buf[pos] <= 0x39 else { throw error("invalid number", at: start) }
        var integral = true
        var mag: UInt64 = 0
        var overflow = false
        if buf[pos] == 0x30 {
            pos += 1
            if pos < buf.count, buf[pos] >= 0x30, buf[pos] <= 0x39 {
                throw error("invalid number (leading zero)", at: start)
            }
        } else {
            while pos < buf.count, buf[pos] >= 0x30, buf[pos] <= 0x39 {
                let (m1, o1) = mag.multipliedReportingOverflow(by: 10)
                let (m2, o2) = m1.addingReportingOverflow(UInt64(buf[pos] - 0x30))
                if o1 || o2 { overflow = true }
                mag = m2
                pos += 1
            }
        }
        if pos < buf.count, buf[pos] == 0x2e {
            integral = false
            pos += 1
            guard pos < buf.count, buf[pos] >= 0x30, buf[pos] <= 0x39 else {
                throw error("invalid number (no digit after '.')", at: start)
            }
            while pos < buf.count, buf[pos] >= 0x30, buf[pos] <= 0x39 { pos += 1 }
        }
        if pos < buf.count, buf[pos] == 0x65 || buf[pos] == 0x45 {
            integral = false
            pos += 1
            if pos < buf.count, buf[pos] == 0x2b || buf[pos] == 0x2d { pos += 1 }
            guard pos < buf.count, buf[pos] >= 0x30, buf[pos] <= 0x39 else {
                throw error("invalid number (no digit in exponent)", at: start)
            }
            while pos < buf.count, buf[pos] >= 0x30, buf[pos] <= 0x39 { pos += 1 }
        }
        if integral && !overflow {
            if !negative {
                if mag <= UInt64(Int64.max) { return .int(Int64(mag)) }
            } else if mag != 0 && mag <= UInt64(Int64.max) + 1 {
                return .int(mag == UInt64(Int64.max) + 1 ? Int64.min : -Int64(mag))
            }
            // -0 is a float in serde_json; u64 above Int64.max is kept as a double here.
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: buf[start..<pos]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else { throw error("number out of range", at: start) }
        return .double(d)
    }
}
