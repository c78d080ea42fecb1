/// Writes a zip archive of *stored* (uncompressed) members as a stream: a member's local header
/// (which carries its size and CRC-32, so the caller must know both before the data), then its
/// bytes, then the next member, and finally the central directory. The exact archive size is
/// known before anything is written (`archiveSize`), so a reply can announce it up front.
///
/// No zip64: the archive must stay below 4 GiB and 65,535 members.
public struct StoredZipWriter {
    /// Bytes of an archive whose members have these name lengths (in bytes) and sizes.
    public static func archiveSize(_ members: [(nameLength: Int, size: Int)]) -> Int {
        members.reduce(22) { $0 + 30 + 46 + 2 * $1.nameLength + $1.size }
    }

    private var central: [UInt8] = []
    private var offset = 0
    private var count = 0

    public init() {}

    /// The bytes written so far (headers plus announced member data).
    public var bytesWritten: Int { offset }

    /// The local header of the next member; its `size` data bytes must follow it.
    public mutating func localHeader(name: [UInt8], size: Int, crc: UInt32) throws -> [UInt8] {
        guard name.count <= 0xFFFF, size < 0xFFFF_FFFF, offset + 30 + name.count + size < 0xFFFF_FFFF, count < 0xFFFF else {
            throw ZipError("archive too large for a zip without zip64")
        }
        var local: [UInt8] = []
        local.reserveCapacity(30 + name.count)
        Self.put32(&local, 0x0403_4b50)
        Self.put16(&local, 10)        // version needed: 1.0
        Self.put16(&local, 0)         // flags
        Self.put16(&local, 0)         // method: stored
        Self.put16(&local, 0)         // time 00:00:00
        Self.put16(&local, 0x21)      // date 1980-01-01
        Self.put32(&local, crc)
        Self.put32(&local, UInt32(size))
        Self.put32(&local, UInt32(size))
        Self.put16(&local, UInt16(name.count))
        Self.put16(&local, 0)         // extra length
        local += name

        Self.put32(&central, 0x0201_4b50)
        Self.put16(&central, 0x031E)  // made by: Unix, 3.0
        Self.put16(&central, 10)
        Self.put16(&central, 0)
        Self.put16(&central, 0)
        Self.put16(&central, 0)
        Self.put16(&central, 0x21)
        Self.put32(&central, crc)
        Self.put32(&central, UInt32(size))
        Self.put32(&central, UInt32(size))
        Self.put16(&central, UInt16(name.count))
        Self.put16(&central, 0)       // extra
        Self.put16(&central, 0)       // comment
        Self.put16(&central, 0)       // disk
        Self.put16(&central, 0)       // internal attributes
        Self.put32(&central, 0o100644 << 16) // external attributes: regular file, rw-r--r--
        Self.put32(&central, UInt32(offset))
        central += name

        offset += local.count + size
        count += 1
        return local
    }

    /// The central directory and end record; the archive is complete after these bytes.
    public mutating func finish() -> [UInt8] {
        var tail = central
        Self.put32(&tail, 0x0605_4b50)
        Self.put16(&tail, 0)
        Self.put16(&tail, 0)
        Self.put16(&tail, UInt16(count))
        Self.put16(&tail, UInt16(count))
        Self.put32(&tail, UInt32(central.count))
        Self.put32(&tail, UInt32(offset))
        Self.put16(&tail, 0)          // comment length
        offset += tail.count
        return tail
    }

    /// A whole archive in memory (small archives and tests).
    public static func build(_ members: [(name: String, data: [UInt8])]) throws -> [UInt8] {
        var writer = StoredZipWriter()
        var out: [UInt8] = []
        for member in members {
            out += try writer.localHeader(name: Array(member.name.utf8), size: member.data.count, crc: CRC32.of(member.data))
            out += member.data
        }
        out += writer.finish()
        return out
    }

    private static func put16(_ out: inout [UInt8], _ v: UInt16) {
        out.append(UInt8(v & 0xFF))
        out.append(UInt8(v >> 8))
    }

    private static func put32(_ out: inout [UInt8], _ v: UInt32) {
        out.append(UInt8(v & 0xFF))
        out.append(UInt8((v >> 8) & 0xFF))
        out.append(UInt8((v >> 16) & 0xFF))
        out.append(UInt8(v >> 24))
    }
}
