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
