import Glibc
import Shared

/// Opens stored media files without following symbolic links: a symlink (or any non-regular
/// file) found where a media file should be is never served. It reads as missing (ENOENT), with
/// a log line, so the record is dropped like that of a vanished file.
enum MediaFileOpen {
    /// A read-only descriptor of the regular file at `path`, or -1 with errno set.
    static func regularFile(_ path: String, log: Log) -> Int32 {
        // O_NONBLOCK: a FIFO planted under the name must not block the open.
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 {
            let err = errno
            if err == ELOOP { refuse(path, "a symbolic link", log: log) }
            errno = err == ELOOP ? ENOENT : err
            return -1
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            refuse(path, "not a regular file", log: log)
            errno = ENOENT
            return -1
        }
        return fd
    }

    private static func refuse(_ path: String, _ what: String, log: Log) {
        log.warn("media file refused", ["path": .string(path), "reason": .string("\(what) where a media file should be; not served")])
    }
}
