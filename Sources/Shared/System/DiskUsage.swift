import Glibc

/// Bytes a user's folder occupies: the apparent sizes of the regular files below it (collection,
/// its -wal, media.db, media files, staging). Symbolic links are not followed. Used for the quota
/// (worker) and for `status` (the command, reading the folder itself).
public enum DiskUsage {
    public static func bytes(under folder: String) -> Int64 {
        var st = stat()
        guard lstat(folder, &st) == 0 else { return 0 }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return Int64(st.st_size)
        case S_IFDIR: break
        default: return 0
        }
        guard let dir = opendir(folder) else { return 0 }
        defer { closedir(dir) }
        var total: Int64 = 0
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            total += bytes(under: folder + "/" + name)
        }
        return total
    }

    /// Size of one regular file (0 when missing or not a regular file).
    public static func fileBytes(_ path: String) -> Int64 {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return 0 }
        return Int64(st.st_size)
    }

    /// "12.3 MiB", for messages people read (quotas are in MiB, like MAX_SYNC_PAYLOAD_MEGS).
    public static func mebibytes(_ bytes: Int64) -> String {
        let tenths = (bytes * 10 + 524_288) / 1_048_576
        return "\(tenths / 10).\(tenths % 10) MiB"
    }
}
