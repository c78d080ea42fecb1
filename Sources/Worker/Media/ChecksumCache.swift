import CShim
import Glibc

/// Remembers a media file's CRC-32 in an extended attribute (`user.ankisync.crc32`), so a download
/// zip — whose member headers need the CRC before the data — does not read every file twice.
///
/// The upload already knows the CRC (it is checked against the client's zip), so storing it costs one
/// system call. The value records the file's size, modification time and inode; if any of them has
/// changed (the file was rewritten by something else, say the official server after a switch), the
/// value is ignored and the CRC computed again. A file system without user attributes just means
/// the CRC is always computed. Nothing else depends on these attributes.
enum ChecksumCache {
    static let attribute = "user.ankisync.crc32"

    private static func stamp(_ st: stat, crc: UInt32) -> String {
        "1 \(crc) \(st.st_size) \(st.st_mtim.tv_sec) \(st.st_mtim.tv_nsec) \(st.st_ino)"
    }

    /// Records `crc` for the file open at `fd` (best effort).
    static func store(fd: Int32, crc: UInt32) {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return }
        let value = Array(stamp(st, crc: crc).utf8)
        _ = value.withUnsafeBytes { cshim_fsetxattr(fd, attribute, $0.baseAddress, $0.count) }
    }

    /// The recorded CRC if it still describes the file (`st` is the file's current status).
    static func load(fd: Int32, matching st: stat) -> UInt32? {
        var buffer = [UInt8](repeating: 0, count: 96)
        let n = buffer.withUnsafeMutableBytes { cshim_fgetxattr(fd, attribute, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        guard let crcText = text.split(separator: " ").dropFirst().first, let crc = UInt32(crcText),
              text == stamp(st, crc: crc) else { return nil }
        return crc
    }
}
