import Glibc
import Shared

/// Byte copies of the collection file, taken under the user's lock so that full downloads can be
/// streamed after the lock is released.
enum CollectionCopy {
    /// A copy in an already-unlinked file of the user's folder (freed however the worker ends),
    /// returned open; the caller closes it.
    static func anonymousCopy(of source: String, folder: String) throws -> Int32 {
        let path = folder + "/\(UserStore.uploadPrefix)copy-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw InternalError("cannot create a temporary file: \(String(cString: strerror(errno)))") }
        unlink(path)
        do { try copy(from: source, into: fd) } catch {
            close(fd)
            throw error
        }
        return fd
    }

    /// A copy at `target`, which must not exist yet.
    static func copy(from source: String, to target: String) throws {
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw InternalError("cannot create a temporary file: \(String(cString: strerror(errno)))") }
        defer { close(output) }
        try copy(from: source, into: output)
    }

    static func copy(from source: String, into output: Int32) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw InternalError("cannot open the collection: \(String(cString: strerror(errno)))") }
        defer { close(input) }
        var block = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = block.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw InternalError("cannot read the collection") }
            if n == 0 { break }
            do {
                try block.withUnsafeBytes { try FileDescriptorIO.writeAll(output, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            } catch {
                throw InternalError("cannot write a temporary copy of the collection: \(error)")
            }
        }
    }
}
