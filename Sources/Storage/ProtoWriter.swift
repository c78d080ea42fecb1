/// A minimal protobuf (proto3) encoder for the blobs stored in the collection.
///
/// Callers write fields in ascending tag order, as the reference does. The plain setters omit
/// proto3 defaults (0, false, "", empty); the `present` variants are for `optional` fields and
/// always write.
struct ProtoWriter {
    private(set) var bytes: [UInt8] = []

    private enum WireType: UInt64 { case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5 }

    private mutating func rawVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    private mutating func key(_ tag: UInt32, _ type: WireType) {
        rawVarint(UInt64(tag) << 3 | type.rawValue)
    }

    private mutating func rawFixed32(_ value: Float) {
        let b = value.bitPattern
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: b >> UInt32(shift))) }
    }

    // MARK: Scalars (default values omitted)

    mutating func uint32(_ tag: UInt32, _ value: UInt32) {
        if value != 0 { uint32(present: tag, value) }
    }

    /// int64/int32/enum: negatives become 10-byte two's-complement varints.
    mutating func int64(_ tag: UInt32, _ value: Int64) {
        if value != 0 { int64(present: tag, value) }
    }

    mutating func bool(_ tag: UInt32, _ value: Bool) {
        if value { key(tag, .varint); rawVarint(1) }
    }

    mutating func float(_ tag: UInt32, _ value: Float) {
        if value != 0 { key(tag, .fixed32); rawFixed32(value) }
    }

    mutating func string(_ tag: UInt32, _ value: String) {
        if !value.isEmpty { bytes(tag, Array(value.utf8)) }
    }

    mutating func bytes(_ tag: UInt32, _ value: [UInt8]) {
        guard !value.isEmpty else { return }
        key(tag, .lengthDelimited)
        rawVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    // MARK: Explicit presence

    mutating func uint32(present tag: UInt32, _ value: UInt32) {
        key(tag, .varint); rawVarint(UInt64(value))
    }

    mutating func int64(present tag: UInt32, _ value: Int64) {
        key(tag, .varint); rawVarint(UInt64(bitPattern: value))
    }

    mutating func float(present tag: UInt32, _ value: Float) {
        key(tag, .fixed32); rawFixed32(value)
    }

    /// A sub-message: written whenever present, even if empty.
    mutating func message(_ tag: UInt32, _ value: ProtoWriter) {
        key(tag, .lengthDelimited)
        rawVarint(UInt64(value.bytes.count))
        bytes.append(contentsOf: value.bytes)
    }

    // MARK: Packed repeated

    mutating func packedFloats(_ tag: UInt32, _ values: [Float]) {
        guard !values.isEmpty else { return }
        key(tag, .lengthDelimited)
        rawVarint(UInt64(values.count * 4))
        for v in values { rawFixed32(v) }
    }

    mutating func packedUInt32(_ tag: UInt32, _ values: [UInt32]) {
        guard !values.isEmpty else { return }
        var body = ProtoWriter()
        for v in values { body.rawVarint(UInt64(v)) }
        key(tag, .lengthDelimited)
        rawVarint(UInt64(body.bytes.count))
        bytes.append(contentsOf: body.bytes)
    }
}
