/// A tolerant protobuf (proto3) decoder for the blobs stored in the collection.
///
/// Reads one message into a table of fields: any tag order, repeated occurrences (accessors pick
/// the last scalar, concatenate repeated values, merge sub-messages), packed or unpacked repeated
/// numbers, and unknown tags (kept, ignored by the accessors that do not ask for them).
struct ProtoReader {
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32(UInt32)
        case bytes(ArraySlice<UInt8>)
    }

    /// Fields in the order they were read.
    private(set) var fields: [(tag: UInt32, value: Value)] = []

    init(_ bytes: [UInt8]) throws {
        try self.init(bytes[...])
    }

    init(_ bytes: ArraySlice<UInt8>) throws {
        var pos = bytes.startIndex
        let end = bytes.endIndex
        func varint() throws -> UInt64 { try Self.varint(bytes, at: &pos) }
        while pos < end {
            let key = try varint()
            let tag = key >> 3
            guard tag > 0, tag <= UInt64(UInt32.max >> 3) else { throw CodecError("protobuf: invalid tag \(tag)") }
            switch key & 7 {
            case 0: fields.append((UInt32(tag), .varint(try varint())))
            case 1:
                guard end - pos >= 8 else { throw CodecError("protobuf: truncated fixed64") }
                fields.append((UInt32(tag), .fixed64(Self.littleEndian(bytes, at: pos, count: 8))))
                pos += 8
            case 2:
                let len = try varint()
                guard len <= UInt64(end - pos) else { throw CodecError("protobuf: truncated length-delimited field") }
                let n = Int(len)
                fields.append((UInt32(tag), .bytes(bytes[pos..<(pos + n)])))
                pos += n
            case 5:
                guard end - pos >= 4 else { throw CodecError("protobuf: truncated fixed32") }
                fields.append((UInt32(tag), .fixed32(UInt32(Self.littleEndian(bytes, at: pos, count: 4)))))
                pos += 4
            default:
                // groups (3, 4) and reserved wire types never occur in these messages
                throw CodecError("protobuf: unsupported wire type \(key & 7) for tag \(tag)")
            }
        }
    }

    private func last(_ tag: UInt32) -> Value? {
        fields.last { $0.tag == tag }?.value
    }

    func has(_ tag: UInt32) -> Bool { fields.contains { $0.tag == tag } }

    // MARK: Scalars (absent → proto3 default)

    func varintField(_ tag: UInt32) throws -> UInt64? {
        guard let v = last(tag) else { return nil }
        guard case .varint(let x) = v else { throw CodecError("protobuf: tag \(tag) has the wrong wire type") }
        return x
    }

    func uint32(_ tag: UInt32) throws -> UInt32 { try optionalUInt32(tag) ?? 0 }
    func int32(_ tag: UInt32) throws -> Int32 { Int32(truncatingIfNeeded: try varintField(tag) ?? 0) }
    func int64(_ tag: UInt32) throws -> Int64 { try optionalInt64(tag) ?? 0 }
    func bool(_ tag: UInt32) throws -> Bool { (try varintField(tag) ?? 0) != 0 }
    /// Enums are read as int32 and kept numerically, unknown values included.
    func enumValue(_ tag: UInt32) throws -> Int32 { try int32(tag) }

    func optionalUInt32(_ tag: UInt32) throws -> UInt32? {
        try varintField(tag).map { UInt32(truncatingIfNeeded: $0) }
    }

    func optionalInt64(_ tag: UInt32) throws -> Int64? {
        try varintField(tag).map { Int64(bitPattern: $0) }
    }

    func float(_ tag: UInt32) throws -> Float { try optionalFloat(tag) ?? 0 }

    func optionalFloat(_ tag: UInt32) throws -> Float? {
        guard let v = last(tag) else { return nil }
        guard case .fixed32(let x) = v else { throw CodecError("protobuf: tag \(tag) has the wrong wire type") }
        return Float(bitPattern: x)
    }

    func bytes(_ tag: UInt32) throws -> [UInt8] {
        guard let v = last(tag) else { return [] }
        guard case .bytes(let b) = v else { throw CodecError("protobuf: tag \(tag) has the wrong wire type") }
        return Array(b)
    }

    func string(_ tag: UInt32) throws -> String {
        let b = try bytes(tag)
        guard let s = String(validatingUTF8Bytes: b) else { throw CodecError("protobuf: tag \(tag) is not valid UTF-8") }
        return s
    }

    // MARK: Sub-messages and repeated fields

    /// A sub-message: every occurrence merged (concatenating their bytes is the protobuf merge).
    func message(_ tag: UInt32) throws -> ProtoReader? {
        var merged: [UInt8]? = nil
        for f in fields where f.tag == tag {
            guard case .bytes(let b) = f.value else { throw CodecError("protobuf: tag \(tag) has the wrong wire type") }
            merged = (merged ?? []) + b
        }
        return try merged.map { try ProtoReader($0) }
    }

    /// Each occurrence as its own message (repeated message field).
    func messages(_ tag: UInt32) throws -> [ProtoReader] {
        try fields.filter { $0.tag == tag }.map { f in
            guard case .bytes(let b) = f.value else { throw CodecError("protobuf: tag \(tag) has the wrong wire type") }
            return try ProtoReader(b)
        }
    }

    /// Repeated float, packed or not.
    func floats(_ tag: UInt32) throws -> [Float] {
        try repeated(tag) { value in
            switch value {
            case .fixed32(let x): return [Float(bitPattern: x)]
            case .bytes(let b):
                guard b.count % 4 == 0 else { throw CodecError("protobuf: packed floats of odd length") }
                return stride(from: b.startIndex, to: b.endIndex, by: 4).map {
                    Float(bitPattern: UInt32(Self.littleEndian(b, at: $0, count: 4)))
                }
            default: return nil
            }
        }
    }

    /// Repeated uint32, packed or not.
    func uint32s(_ tag: UInt32) throws -> [UInt32] {
        try repeated(tag) { value in
            switch value {
            case .varint(let x): return [UInt32(truncatingIfNeeded: x)]
            case .bytes(let b):
                var pos = b.startIndex
                var out: [UInt32] = []
                while pos < b.endIndex { out.append(UInt32(truncatingIfNeeded: try Self.varint(b, at: &pos))) }
                return out
            default: return nil
            }
        }
    }

    /// Every occurrence of a repeated scalar field, in order: `decode` turns one occurrence (a
    /// single value, or a packed run) into values, nil for the wrong wire type.
    private func repeated<T>(_ tag: UInt32, _ decode: (Value) throws -> [T]?) throws -> [T] {
        var out: [T] = []
        for f in fields where f.tag == tag {
            guard let values = try decode(f.value) else { throw CodecError("protobuf: tag \(tag) has the wrong wire type") }
            out += values
        }
        return out
    }

    // MARK: Wire primitives

    /// The varint at `pos` (advanced past it); at most 10 bytes, bits beyond 64 dropped.
    static func varint(_ bytes: ArraySlice<UInt8>, at pos: inout Int) throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard pos < bytes.endIndex else { throw CodecError("protobuf: truncated varint") }
            let b = bytes[pos]
            pos += 1
            if shift < 64 { result |= UInt64(b & 0x7f) << shift }
            if b < 0x80 { return result }
            shift += 7
            if shift >= 70 { throw CodecError("protobuf: varint longer than 10 bytes") }
        }
    }

    /// `count` bytes at `pos` as a little-endian number (the caller checked they are there).
    static func littleEndian(_ bytes: ArraySlice<UInt8>, at pos: Int, count: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<count { v |= UInt64(bytes[pos + i]) << (8 * UInt64(i)) }
        return v
    }
}

extension String {
    /// Strict UTF-8 decoding (nil on invalid input), available on every platform we build for.
    init?(validatingUTF8Bytes bytes: [UInt8]) {
        if bytes.allSatisfy({ $0 < 0x80 }) {
            self = String(decoding: bytes, as: UTF8.self)
            return
        }
        var ok = true
        var scalars = String.UnicodeScalarView()
        var it = bytes.makeIterator()
        var decoder = UTF8()
        loop: while true {
            switch decoder.decode(&it) {
            case .scalarValue(let s): scalars.append(s)
            case .emptyInput: break loop
            case .error: ok = false; break loop
            }
        }
        guard ok else { return nil }
        self = String(scalars)
    }
}
