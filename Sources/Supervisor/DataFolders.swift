import Glibc
import Shared

/// Creates SYNC_BASE and one folder per user (mode 0700), in the official server's layout.
enum DataFolders {
    static func prepare(base: String, users: [String]) throws(SystemError) {
        try makeDirectory(base)
        for user in users {
            try makeDirectory(base + "/" + user)
        }
    }

    static func makeDirectory(_ path: String) throws(SystemError) {
        if mkdir(path, 0o700) == 0 { return }
        let err = errno
        guard err == EEXIST else {
            // Create missing parents (SYNC_BASE may be a nested path), then retry once.
            if err == ENOENT, let slash = path.lastIndex(of: "/"), slash != path.startIndex {
                try makeDirectory(String(path[..<slash]))
                if mkdir(path, 0o700) == 0 || errno == EEXIST { return }
            }
            throw SystemError("mkdir \(path)", code: err)
        }
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw SystemError("\(path) exists and is not a folder", code: ENOTDIR)
        }
    }
}
