import Shared

/// Reading schema-11 JSON with the reference's exact leniency (COLLECTION.md §3.0).
///
/// The reference deserializes into typed structs; each key is one of:
/// - required: missing → hard error; wrong type → hard error (`req`)
/// - defaulted: missing → default; wrong type → hard error (`def`)
/// - required, invalid → default: missing → hard error; wrong type → default (`reqOrDefault`)
/// - defaulted, invalid → default (`lenient`)
/// Keys never asked for are the unknown ones, kept in `other`.
struct JSONObjectReader {
    let object: JSONObject
    let what: String
    private(set) var consumed: Set<String> = []

    init(_ value: JSONValue, what: String) throws {
        guard case .object(let o) = value else { throw CodecError("\(what): expected a JSON object") }
        object = o
        self.what = what
    }

    init(object: JSONObject, what: String) {
        self.object = object
        self.what = what
    }

    mutating func consume(_ key: String) -> JSONValue? {
        consumed.insert(key)
        return object[key]
    }

    mutating func req<T>(_ key: String, _ convert: (JSONValue) -> T?) throws -> T {
        guard let v = consume(key) else { throw CodecError("\(what): missing field `\(key)`") }
        guard let t = convert(v) else { throw CodecError("\(what): invalid value for `\(key)`: \(v)") }
        return t
    }

    mutating func def<T>(_ key: String, _ defaultValue: T, _ convert: (JSONValue) -> T?) throws -> T {
        guard let v = consume(key) else { return defaultValue }
        guard let t = convert(v) else { throw CodecError("\(what): invalid value for `\(key)`: \(v)") }
        return t
    }

    mutating func reqOrDefault<T>(_ key: String, _ defaultValue: T, _ convert: (JSONValue) -> T?) throws -> T {
        guard let v = consume(key) else { throw CodecError("\(what): missing field `\(key)`") }
        return convert(v) ?? defaultValue
    }

    mutating func lenient<T>(_ key: String, _ defaultValue: T, _ convert: (JSONValue) -> T?) -> T {
        guard let v = consume(key) else { return defaultValue }
        return convert(v) ?? defaultValue
    }

    /// `Option<T>` without leniency: missing or null → nil; wrong type → hard error.
    mutating func optional<T>(_ key: String, _ convert: (JSONValue) -> T?) throws -> T? {
        guard let v = consume(key), !v.isNull else { return nil }
        guard let t = convert(v) else { throw CodecError("\(what): invalid value for `\(key)`: \(v)") }
        return t
    }

    /// `Option<T>` with invalid → None.
    mutating func lenientOptional<T>(_ key: String, _ convert: (JSONValue) -> T?) -> T? {
        guard let v = consume(key), !v.isNull else { return nil }
        return convert(v)
    }

    /// The keys not consumed, in input order.
    func others(excluding extra: Set<String> = []) -> JSONObject {
        JSONObject(uniqueEntries: object.entries.filter { !consumed.contains($0.key) && !extra.contains($0.key) })
    }
}


/// Conversions with serde's typing rules for a value already parsed into JSON.
enum Strict {
    static func int(_ v: JSONValue, _ range: ClosedRange<Int64>) -> Int64? {
        guard case .int(let i) = v, range.contains(i) else { return nil }
        return i
    }

    static func i64(_ v: JSONValue) -> Int64? { int(v, Int64.min...Int64.max) }
    static func i32(_ v: JSONValue) -> Int32? { int(v, Int64(Int32.min)...Int64(Int32.max)).map { Int32($0) } }
    static func u32(_ v: JSONValue) -> UInt32? { int(v, 0...Int64(UInt32.max)).map { UInt32($0) } }
    static func u16(_ v: JSONValue) -> UInt16? { int(v, 0...Int64(UInt16.max)).map { UInt16($0) } }
    static func u8(_ v: JSONValue) -> UInt8? { int(v, 0...255).map { UInt8($0) } }

    /// f32 accepts integers and floats (converted as Rust's `as f32`: round to nearest).
    static func f32(_ v: JSONValue) -> Float? {
        switch v {
        case .int(let i): return Float(i)
        case .double(let d): return Float(d)
        default: return nil
        }
    }

    static func f32Array(_ v: JSONValue) -> [Float]? {
        guard case .array(let a) = v else { return nil }
        var out: [Float] = []
        out.reserveCapacity(a.count)
        for e in a {
            guard let f = f32(e) else { return nil }
            out.append(f)
        }
        return out
    }

    static func u16Array(_ v: JSONValue) -> [UInt16]? {
        guard case .array(let a) = v else { return nil }
        var out: [UInt16] = []
        for e in a {
            guard let x = u16(e) else { return nil }
            out.append(x)
        }
        return out
    }

    static func bool(_ v: JSONValue) -> Bool? { v.bool }
    static func string(_ v: JSONValue) -> String? { v.string }
    static func any(_ v: JSONValue) -> JSONValue? { v }

    /// serde_aux `deserialize_number_from_string`: a number, or a string parsed as an integer.
    static func numberOrString(_ v: JSONValue, _ range: ClosedRange<Int64>) -> Int64? {
        switch v {
        case .int(let i): return range.contains(i) ? i : nil
        case .string(let s):
            guard let i = Int64(s), range.contains(i) else { return nil }
            return i
        default: return nil
        }
    }

    static func i64OrString(_ v: JSONValue) -> Int64? { numberOrString(v, Int64.min...Int64.max) }

    /// serde_aux `deserialize_bool_from_anything`: booleans, 0/1 (integer or float), strings
    /// "true"/"false" (any case), "0"/"1", "0.0"/"1.0".
    static func boolFromAnything(_ v: JSONValue) -> Bool? {
        func fromFloat(_ f: Double) -> Bool? {
            if abs(f - 1.0) < Double.ulpOfOne { return true }
            if f == 0 { return false }
            return nil
        }
        switch v {
        case .bool(let b): return b
        case .int(let i): return i == 1 ? true : (i == 0 ? false : nil)
        case .double(let d): return fromFloat(d)
        case .string(let s):
            switch s.lowercased() {
            case "true": return true
            case "false": return false
            default: break
            }
            if let i = Int64(s) { return i == 1 ? true : (i == 0 ? false : nil) }
            if let d = rustParseF64(s) { return fromFloat(d) }
            return nil
        default: return nil
        }
    }

    /// Rust's `str::parse::<f64>` grammar: optional sign, digits with optional '.', optional
    /// exponent, or inf/infinity/nan (any case).
    static func rustParseF64(_ s: String) -> Double? {
        var t = Substring(s)
        var sign = 1.0
        if t.hasPrefix("+") { t = t.dropFirst() } else if t.hasPrefix("-") { t = t.dropFirst(); sign = -1 }
        switch t.lowercased() {
        case "inf", "infinity": return sign * .infinity
        case "nan": return .nan
        default: break
        }
        let chars = Array(t.utf8)
        var i = 0
        func digits() -> String {
            var d = ""
            while i < chars.count, chars[i] >= 0x30, chars[i] <= 0x39 { d.append(Character(Unicode.Scalar(chars[i]))); i += 1 }
            return d
        }
        let intPart = digits()
        var fracPart = ""
        if i < chars.count, chars[i] == 0x2e { i += 1; fracPart = digits() }
        guard !(intPart.isEmpty && fracPart.isEmpty) else { return nil }
        var expPart = ""
        if i < chars.count, chars[i] == 0x65 || chars[i] == 0x45 {
            i += 1
            var expSign = ""
            if i < chars.count, chars[i] == 0x2b || chars[i] == 0x2d { expSign = chars[i] == 0x2d ? "-" : ""; i += 1 }
            let e = digits()
            guard !e.isEmpty else { return nil }
            expPart = "e" + expSign + e
        }
        guard i == chars.count else { return nil }
        let text = (intPart.isEmpty ? "0" : intPart) + "." + (fracPart.isEmpty ? "0" : fracPart) + expPart
        return Double(text).map { sign * $0 }
    }
}

/// Output helpers matching how the reference serializes typed values.
enum Emit {
    /// An f32 as serde_json writes it: its shortest f32 decimal ("1.3", not 1.2999999523162842).
    static func f32(_ f: Float) -> JSONValue {
        guard f.isFinite else { return .null }
        return .double(Double(f.description) ?? Double(f))
    }

    static func f32Array(_ a: [Float]) -> JSONValue { .array(a.map(f32)) }

    /// Rust `f as u32` (saturating; NaN → 0).
    static func saturatingU32(_ f: Float) -> UInt32 {
        if f.isNaN || f <= 0 { return 0 }
        if f >= 4294967296.0 { return UInt32.max }
        return UInt32(f)
    }

    /// Rust `f as u16` (saturating; NaN → 0).
    static func saturatingU16(_ f: Float) -> UInt16 {
        if f.isNaN || f <= 0 { return 0 }
        if f >= 65536.0 { return UInt16.max }
        return UInt16(f)
    }
}

/// The `other` (#255) JSON: unknown keys stored as a compact object.
enum OtherJSON {
    /// Compact bytes, or empty when there is nothing to keep. Objects nested inside the values have
    /// their keys sorted, as the reference (serde_json without `preserve_order`) stores them.
    static func encode(_ object: JSONObject) -> [UInt8] {
        if object.isEmpty { return [] }
        let sortedValues = JSONObject(uniqueEntries: object.entries.map { ($0.key, sortNested($0.value)) })
        return JSON.serialize(.object(sortedValues))
    }

    static func sortNested(_ v: JSONValue) -> JSONValue {
        switch v {
        case .array(let a): return .array(a.map(sortNested))
        case .object(let o):
            let sorted = o.entries
                .map { (key: $0.key, value: sortNested($0.value)) }
                .sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
            return .object(JSONObject(uniqueEntries: sorted))
        default: return v
        }
    }

    /// Parses stored `other` bytes; invalid JSON or a non-object counts as empty (the reference
    /// warns and carries on). Reserved keys are removed.
    static func decode(_ bytes: [UInt8], reserved: Set<String>) -> JSONObject {
        guard !bytes.isEmpty, case .object(let o)? = try? JSON.parse(bytes) else { return JSONObject() }
        return JSONObject(uniqueEntries: o.entries.filter { !reserved.contains($0.key) })
    }
}

extension JSONObject {
    /// Appends keys of `other` (replacing any already present), for merging unknown keys back.
    mutating func appendOthers(_ other: JSONObject) {
        for (k, v) in other.entries { self[k] = v }
    }
}
