/// An exact JSON value, as the reference (serde_json) sees it.
///
/// Integers written without fraction or exponent that fit in Int64 stay integers (ids are 64-bit
/// and must never pass through Double); everything else numeric is a Double. Objects keep their
/// keys in insertion order.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

/// A JSON object that keeps insertion order.
///
/// Duplicate keys behave like serde_json's ordered map: the key keeps its first position and the
/// last value wins. Equality ignores key order (two objects are equal when they have the same keys
/// with equal values), as it does for serde_json maps.
public struct JSONObject: Equatable, Sendable {
    public var entries: [(key: String, value: JSONValue)]

    public init(_ entries: [(String, JSONValue)] = []) {
        self.entries = []
        self.entries.reserveCapacity(entries.count)
        for (k, v) in entries { self[k] = v }
    }

    /// Builds from entries known to have unique keys (no duplicate check).
    public init(uniqueEntries: [(key: String, value: JSONValue)]) {
        entries = uniqueEntries
    }

    public var keys: [String] { entries.map(\.key) }
    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    func index(of key: String) -> Int? {
        entries.lastIndex { $0.key == key }
    }

    /// Get: the value or nil. Set: replaces in place, appends new keys at the end; nil removes.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let i = index(of: key) else { return nil }
            return entries[i].value
        }
        set {
            if let i = index(of: key) {
                if let newValue { entries[i].value = newValue } else { entries.remove(at: i) }
            } else if let newValue {
                entries.append((key: key, value: newValue))
            }
        }
    }

    /// Removes a key and returns its value.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let i = index(of: key) else { return nil }
        return entries.remove(at: i).value
    }

    /// Appends or replaces every entry of `other`, in `other`'s order.
    public mutating func merge(_ other: JSONObject) {
        for (k, v) in other.entries { self[k] = v }
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.entries.count == rhs.entries.count else { return false }
        if lhs.entries.elementsEqual(rhs.entries, by: { $0.key == $1.key && $0.value == $1.value }) {
            return true
        }
        for (k, v) in lhs.entries {
            guard let w = rhs[k], w == v else { return false }
        }
        return true
    }

    /// Equality that also requires the same key order (recursively).
    public func isIdentical(to other: JSONObject) -> Bool {
        entries.count == other.entries.count
            && entries.elementsEqual(other.entries, by: { $0.key == $1.key && $0.value.isIdentical(to: $1.value) })
    }
}

extension JSONValue {
    /// Equality that also requires the same key order in every object.
    public func isIdentical(to other: JSONValue) -> Bool {
        switch (self, other) {
        case let (.object(a), .object(b)): return a.isIdentical(to: b)
        case let (.array(a), .array(b)): return a.count == b.count && a.elementsEqual(b, by: { $0.isIdentical(to: $1) })
        default: return self == other
        }
    }
}

// MARK: - Convenience accessors (lenient, like the reference's num-or-string parsing)

extension JSONValue {
    public var isNull: Bool { if case .null = self { return true } else { return false } }

    /// `.int`, an integral `.double` in range, or a string holding an integer.
    public var int64: Int64? {
        switch self {
        case .int(let v): return v
        case .double(let d):
            guard d.rounded(.towardZero) == d, d >= -9.223372036854775808e18, d < 9.223372036854775808e18 else { return nil }
            return Int64(d)
        case .string(let s):
            if let v = Int64(s) { return v }
            if let d = Double(s), d.isFinite { return JSONValue.double(d).int64 }
            return nil
        default: return nil
        }
    }

    /// Any number, or a string holding one.
    public var double: Double? {
        switch self {
        case .int(let v): return Double(v)
        case .double(let d): return d
        case .string(let s): return Double(s)
        default: return nil
        }
    }

    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var object: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// Object member, nil when not an object or missing.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(JSONObject(elements)) }
}

extension JSONValue: CustomStringConvertible {
    /// The compact serialization.
    public var description: String { String(decoding: JSON.serialize(self), as: UTF8.self) }
}

extension JSONObject: CustomStringConvertible {
    public var description: String { JSONValue.object(self).description }
}
