import Glibc
import Shared

/// An anonymous copy of the collection file, taken under the user's lock so that a full download
/// can be streamed after the lock is released.
enum CollectionCopy {
    /// A copy in an already-unlinked file of the user's folder (freed however the worker ends),
    /// returned open; the caller closes it.
    static func anonymousCopy(of source: String, folder: String) throws -> Int32 {
        let path = folder + "/\(UserStore.uploadPrefix)copy-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw InternalError("cannot create a temporary file: \(String(cString: strerror(errno)))") }
        unlink(path)
        let input = open(source, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else {
            close(fd)
            throw InternalError("cannot open the collection: \(String(cString: strerror(errno)))")
        }
        defer { close(input) }
        do { try FileSync.copyContents(of: input, named: source, into: fd) } catch {
            close(fd)
            throw InternalError("cannot copy the collection: \(error)")
        }
        return fd
    }
}
