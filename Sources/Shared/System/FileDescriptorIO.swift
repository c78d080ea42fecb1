import Glibc

/// Whole-buffer reads and writes on a file descriptor, retrying short transfers and EINTR.
public enum FileDescriptorIO {
    /// Writes every byte of `bytes` to `fd`.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        guard var p = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = write(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("write")
            }
            p += n
            left -= n
        }
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError) {
        var failure: SystemError?
        bytes.withUnsafeBytes { b in
            do throws(SystemError) { try writeAll(fd, b) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Reads `fd` until end of file.
    public static func readToEnd(_ fd: Int32) throws(SystemError) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("read")
            }
            if n == 0 { return out }
            out += chunk[0..<n]
        }
    }
}
