import Glibc

/// Durable file operations by path: the one fsync-by-path and the one file copy of the project.
public enum FileSync {
    /// fsync of a file or a folder, so its content (or a rename or create inside the folder)
    /// survives a power cut.
    public static func sync(path: String) throws(SystemError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw SystemError("fsync \(path)") }
    }

    /// Copies a regular file to a new file (mode 0600; never replaces one) and, if `durable`,
    /// fsyncs it. A partly written copy is removed.
    public static func copy(from source: String, to target: String, durable: Bool) throws(SystemError) {
        let input = open(source, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else { throw SystemError("open \(source)") }
        defer { close(input) }
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw SystemError("create \(target)") }
        var done = false
        defer {
            close(output)
            if !done { unlink(target) }
        }
        try copyContents(of: input, named: source, into: output)
        if durable && fsync(output) != 0 { throw SystemError("fsync \(target)") }
        done = true
    }

    /// Copies what is left of `input` into `output` (both open descriptors).
    public static func copyContents(of input: Int32, named source: String, into output: Int32) throws(SystemError) {
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { block.deallocate() }
        while true {
            let n = read(input, block.baseAddress, block.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("read \(source)")
            }
            if n == 0 { return }
            try FileDescriptorIO.writeAll(output, UnsafeRawBufferPointer(rebasing: block[0..<n]))
        }
    }
}
