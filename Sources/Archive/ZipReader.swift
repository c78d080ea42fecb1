import CZlib
import Glibc

/// Why a zip archive (or one of its members) was refused.
public struct ZipError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The archive's structure is broken, truncated or uses a feature this reader does not support.
        case malformed
        /// A member decompresses to more than the caller's limit.
        case memberTooLarge
    }

    public let kind: Kind
    public let reason: String

    public init(_ kind: Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    public init(_ reason: String) {
        self.init(.malformed, reason)
    }

    public var description: String { reason }
}

/// One member as described by the archive's central directory.
public struct ZipEntry: Sendable, Equatable {
    /// The member name exactly as stored (bytes; the client writes ASCII digits and `_meta`).
    public let nameBytes: [UInt8]
    /// 0 = stored, 8 = deflate.
    public let method: UInt16
    public let crc32: UInt32
    public let compressedSize: Int
    public let uncompressedSize: Int
    /// Where the member's (possibly compressed) bytes start in the archive.
    public let dataOffset: Int

    public var name: String { String(decoding: nameBytes, as: UTF8.self) }
}

/// Reads a zip archive through its central directory: stored and deflate members, no encryption,
/// no multi-disk, no zip64. Every offset and size is checked against the archive's bounds, and
/// members are checked against their CRC-32 and declared size as they are read.
///
/// The archive is mapped read-only (or copied, for an in-memory one); members are streamed out in
/// pieces, so a large member is never held in memory a second time. Not Sendable: confine to one thread.
public final class ZipReader {
    public let entries: [ZipEntry]
    private let base: UnsafeRawPointer
    private let size: Int
    private let release: () -> Void
    /// True when `base` maps a file: pages already read are then dropped from this process's memory.
    private let mapped: Bool

    /// Maps the regular file open at `fd` (the descriptor may be closed afterwards).
    public convenience init(fd: Int32) throws {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw ZipError("cannot stat the archive: \(String(cString: strerror(errno)))") }
        let size = Int(st.st_size)
        guard size >= 22 else { throw ZipError("not a zip archive: \(size) bytes is too short for an end-of-central-directory record") }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw ZipError("cannot map the archive: \(String(cString: strerror(errno)))")
        }
        _ = madvise(mapped, size, MADV_SEQUENTIAL)
        try self.init(base: UnsafeRawPointer(mapped), size: size, mapped: true) { munmap(mapped, size) }
    }

    /// Reads an archive held in memory (copied).
    public convenience init(bytes: [UInt8]) throws {
        let copy = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        bytes.withUnsafeBytes { if let b = $0.baseAddress { copy.copyMemory(from: b, byteCount: bytes.count) } }
        try self.init(base: UnsafeRawPointer(copy), size: bytes.count, mapped: false) { copy.deallocate() }
    }

    private init(base: UnsafeRawPointer, size: Int, mapped: Bool, release: @escaping () -> Void) throws {
        self.base = base
        self.size = size
        self.mapped = mapped
        self.release = release
        do {
            entries = try ZipReader.parseDirectory(base: base, size: size)
        } catch {
            release()
            throw error
        }
    }

    deinit { release() }

    /// The member called `name` (byte-exact), if any.
    public func entry(named name: String) -> ZipEntry? {
        let wanted = Array(name.utf8)
        return entries.first { $0.nameBytes == wanted }
    }

    /// The member's stored bytes, without copying; only for stored members.
    public func storedBytes(_ entry: ZipEntry) -> UnsafeRawBufferPointer? {
        guard entry.method == 0 else { return nil }
        return UnsafeRawBufferPointer(start: base + entry.dataOffset, count: entry.compressedSize)
    }

    /// Streams the member's decompressed bytes to `sink` in pieces of at most `piece` bytes.
    /// Fails with `.memberTooLarge` as soon as more than `limit` bytes have come out (the declared
    /// size is not trusted), and with `.malformed` if the data is corrupt, ends early, or does not
    /// match the declared size or CRC-32. Returns the number of bytes produced.
    @discardableResult
    public func read(_ entry: ZipEntry, limit: Int = Int.max, piece: Int = 1 << 20, verifyCRC: Bool = true,
                     sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let name = entry.name
        switch entry.method {
        case 0:
            guard entry.compressedSize <= limit else {
                throw ZipError(.memberTooLarge, "member \(name) holds \(entry.compressedSize) bytes, more than the limit of \(limit)")
            }
            var crc: UInt32 = 0
            var done = 0
            while done < entry.compressedSize {
                let n = min(piece, entry.compressedSize - done)
                let chunk = UnsafeRawBufferPointer(start: base + entry.dataOffset + done, count: n)
                if verifyCRC { crc = CRC32.update(crc, chunk) }
                try sink(chunk)
                if mapped { dropPages(entry.dataOffset + done, n) }
                done += n
            }
            if verifyCRC && crc != entry.crc32 { throw ZipError("member \(name) fails its CRC-32 check") }
            return done
        case 8:
            return try inflate(entry, limit: limit, piece: piece, verifyCRC: verifyCRC, sink: sink)
        default:
            throw ZipError("member \(name) uses compression method \(entry.method); only stored (0) and deflate (8) are supported")
        }
    }

    private func inflate(_ entry: ZipEntry, limit: Int, piece: Int, verifyCRC: Bool,
                         sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let name = entry.name
        guard let inflater = Inflater(.raw) else { throw ZipError("cannot start a deflate decoder") }
        let outCap = max(min(piece, 1 << 20), 1024)
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: outCap, alignment: 16)
        defer { out.deallocate() }
        var inputLeft = entry.compressedSize
        var inputPos = entry.dataOffset
        var produced = 0
        var crc: UInt32 = 0
        while true {
            if inflater.inputLeft == 0 && inputLeft > 0 {
                let n = min(inputLeft, 1 << 30)
                inflater.setInput(base + inputPos, count: n)
                inputPos += n
                inputLeft -= n
            }
            let (rc, got) = inflater.inflate(into: out)
            if got > 0 {
                produced += got
                if produced > limit {
                    throw ZipError(.memberTooLarge, "member \(name) decompresses to more than the limit of \(limit) bytes")
                }
                let chunk = UnsafeRawBufferPointer(rebasing: out[0..<got])
                if verifyCRC { crc = CRC32.update(crc, chunk) }
                try sink(chunk)
            }
            if rc == Z_STREAM_END { break }
            if rc == Z_BUF_ERROR && inflater.inputLeft == 0 && inputLeft == 0 {
                throw ZipError("member \(name): deflate data ends before its final block")
            }
            guard rc == Z_OK || rc == Z_BUF_ERROR else {
                throw ZipError("member \(name): corrupt deflate data (\(inflater.message(rc)))")
            }
        }
        guard produced == entry.uncompressedSize else {
            throw ZipError("member \(name) decompresses to \(produced) bytes but declares \(entry.uncompressedSize)")
        }
        if verifyCRC && crc != entry.crc32 { throw ZipError("member \(name) fails its CRC-32 check") }
        return produced
    }

    /// Gives back the whole pages inside `[offset, offset + count)` of a mapped archive (they stay
    /// in the page cache; only this process's resident set shrinks).
    private func dropPages(_ offset: Int, _ count: Int) {
        let page = Int(getpagesize())
        let start = (Int(bitPattern: base) + offset + page - 1) / page * page
        let end = (Int(bitPattern: base) + offset + count) / page * page
        if end > start, let p = UnsafeMutableRawPointer(bitPattern: start) {
            _ = madvise(p, end - start, MADV_DONTNEED)
        }
    }

    // MARK: directory

    private static func u16(_ p: UnsafeRawPointer, _ at: Int) -> Int {
        Int(p.load(fromByteOffset: at, as: UInt8.self)) | Int(p.load(fromByteOffset: at + 1, as: UInt8.self)) << 8
    }

    private static func u32(_ p: UnsafeRawPointer, _ at: Int) -> Int {
        u16(p, at) | u16(p, at + 2) << 16
    }

    static func parseDirectory(base: UnsafeRawPointer, size: Int) throws -> [ZipEntry] {
        guard size >= 22 else { throw ZipError("not a zip archive: too short (\(size) bytes)") }
        // The end-of-central-directory record: within the last 22 + 65535 (comment) bytes.
        var eocd = -1
        var at = size - 22
        let lowest = max(0, size - 22 - 65535)
        while at >= lowest {
            if u32(base, at) == 0x0605_4b50 && at + 22 + u16(base, at + 20) == size {
                eocd = at
                break
            }
            at -= 1
        }
        guard eocd >= 0 else { throw ZipError("not a zip archive, or a truncated one: no end-of-central-directory record") }
        let disk = u16(base, eocd + 4), cdDisk = u16(base, eocd + 6)
        let countOnDisk = u16(base, eocd + 8), count = u16(base, eocd + 10)
        let cdSize = u32(base, eocd + 12), cdOffset = u32(base, eocd + 16)
        if count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            throw ZipError("zip64 archives are not supported")
        }
        guard disk == 0, cdDisk == 0, countOnDisk == count else { throw ZipError("multi-disk zip archives are not supported") }
        guard cdOffset <= eocd, cdSize <= eocd - cdOffset else {
            throw ZipError("the central directory lies outside the archive (truncated?)")
        }
        var entries: [ZipEntry] = []
        entries.reserveCapacity(count)
        var seen = Set<[UInt8]>()
        var spans: [(start: Int, end: Int, name: String)] = []
        var p = cdOffset
        let cdEnd = cdOffset + cdSize
        for index in 0..<count {
            guard p + 46 <= cdEnd, u32(base, p) == 0x0201_4b50 else {
                throw ZipError("central directory entry \(index) is missing or damaged")
            }
            let flags = u16(base, p + 8)
            let method = u16(base, p + 10)
            let crc = UInt32(u32(base, p + 16))
            let csize = u32(base, p + 20), usize = u32(base, p + 24)
            let nlen = u16(base, p + 28), xlen = u16(base, p + 30), clen = u16(base, p + 32)
            let localOffset = u32(base, p + 42)
            guard p + 46 + nlen + xlen + clen <= cdEnd else { throw ZipError("central directory entry \(index) overruns the directory") }
            let name = [UInt8](UnsafeRawBufferPointer(start: base + p + 46, count: nlen))
            let shown = String(decoding: name, as: UTF8.self)
            if flags & 1 != 0 { throw ZipError("member \(shown) is encrypted") }
            if csize == 0xFFFF_FFFF || usize == 0xFFFF_FFFF || localOffset == 0xFFFF_FFFF {
                throw ZipError("member \(shown) needs zip64, which is not supported")
            }
            guard method == 0 || method == 8 else {
                throw ZipError("member \(shown) uses compression method \(method); only stored (0) and deflate (8) are supported")
            }
            if method == 0 && csize != usize {
                throw ZipError("stored member \(shown) declares \(csize) stored but \(usize) uncompressed bytes")
            }
            // The local header repeats the name and has its own extra field; the data follows it.
            guard localOffset + 30 <= cdOffset, u32(base, localOffset) == 0x0403_4b50 else {
                throw ZipError("the local header of member \(shown) is missing or damaged")
            }
            let dataOffset = localOffset + 30 + u16(base, localOffset + 26) + u16(base, localOffset + 28)
            guard dataOffset <= cdOffset, csize <= cdOffset - dataOffset else {
                throw ZipError("the data of member \(shown) runs past the end of the archive (truncated?)")
            }
            if !seen.insert(name).inserted {
                throw ZipError("the archive holds two members called \(shown)")
            }
            entries.append(ZipEntry(nameBytes: name, method: UInt16(method), crc32: crc, compressedSize: csize,
                                    uncompressedSize: usize, dataOffset: dataOffset))
            spans.append((localOffset, dataOffset + csize, shown))
            p += 46 + nlen + xlen + clen
        }
        // Members may not share bytes: overlapping members let a small archive inflate to many
        // times its size through one compressed stream read again and again.
        spans.sort { $0.start < $1.start }
        for (a, b) in zip(spans, spans.dropFirst()) where b.start < a.end {
            throw ZipError("members \(a.name) and \(b.name) overlap in the archive")
        }
        return entries
    }
}

/// CRC-32 (the zip/gzip polynomial), from zlib.
public enum CRC32 {
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let p = bytes.baseAddress, bytes.count > 0 else { return crc }
        return UInt32(crc32_z(UInt(crc), p.assumingMemoryBound(to: UInt8.self), bytes.count))
    }

    public static func of(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { update(0, $0) }
    }
}
