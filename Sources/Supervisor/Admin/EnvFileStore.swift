import Glibc
import Shared

/// Reading and replacing the env file for admin commands: clear errors, and a replacement that is
/// atomic (a new file beside it, renamed over it) and keeps the file's mode and owner.
enum EnvFileStore {
    /// The whole file as text, or an error naming the fix.
    static func read(_ path: String) throws(AdminError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AdminError(cannotRead(path, errno)) }
        defer { close(fd) }
        let bytes: [UInt8]
        do { bytes = try FileDescriptorIO.readToEnd(fd) } catch { throw AdminError("cannot read \(path): \(error)") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw AdminError("\(path) is not UTF-8 text") }
        return text
    }

    static func cannotRead(_ path: String, _ code: Int32) -> String {
        switch code {
        case ENOENT: "env file \(path) does not exist: check the path given to --env-file"
        case EACCES, EPERM: "env file \(path) is not readable by this user: run the command as root or as the server's user"
        case EISDIR: "env file \(path) is a folder, not a file"
        default: "cannot read env file \(path): \(String(cString: strerror(code)))"
        }
    }

    /// Runs `body` holding an exclusive lock on the file's folder, so two edits never interleave.
    static func locked<T>(_ path: String, _ body: () throws(AdminError) -> T) throws(AdminError) -> T {
        let folder = FilePath.directory(of: path)
        let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw AdminError("cannot open \(folder): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw AdminError("cannot lock \(folder): \(String(cString: strerror(errno)))") }
        return try body()
    }

    /// Replaces `path` with `text`: same mode and owner, fsynced, then renamed into place.
    static func replace(_ path: String, with text: String) throws(AdminError) {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw AdminError(cannotRead(path, errno)) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw AdminError("\(path) is not a regular file (a link is not replaced)") }
        let folder = FilePath.directory(of: path)
        let name = path.split(separator: "/").last.map(String.init) ?? "env"
        let temp = FilePath.join(folder, ".\(name).tmp-\(getpid())")
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw AdminError("cannot write in \(folder): \(String(cString: strerror(errno))) (run as root or as the file's owner)")
        }
        var done = false
        defer {
            close(fd)
            if !done { unlink(temp) }
        }
        do { try FileDescriptorIO.writeAll(fd, Array(text.utf8)) } catch { throw AdminError("cannot write \(temp): \(error)") }
        if (st.st_uid != geteuid() || st.st_gid != getegid()) && fchown(fd, st.st_uid, st.st_gid) != 0 {
            throw AdminError("cannot keep the owner of \(path) (\(st.st_uid):\(st.st_gid)): run as root or as its owner")
        }
        guard fchmod(fd, st.st_mode & 0o7777) == 0, fsync(fd) == 0 else {
            throw AdminError("cannot finish \(temp): \(String(cString: strerror(errno)))")
        }
        guard rename(temp, path) == 0 else { throw AdminError("cannot replace \(path): \(String(cString: strerror(errno)))") }
        done = true
        let dir = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            _ = fsync(dir)
            close(dir)
        }
    }
}
