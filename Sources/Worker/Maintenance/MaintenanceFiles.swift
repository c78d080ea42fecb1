import FoundationEssentials
import Glibc
import Shared
import Storage

/// A maintenance job failed; `description` is the one line the operator sees.
struct MaintenanceError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }

    static func posix(_ operation: String, _ path: String, _ code: Int32 = errno) -> MaintenanceError {
        MaintenanceError("\(operation) \(path): \(String(cString: strerror(code)))")
    }
}

/// What a snapshot folder says about itself (`snapshot.json`, written last by `snapshot`).
struct SnapshotInfo: Codable, Equatable, Sendable {
    static let fileName = "snapshot.json"
    static let currentFormat = 1

    var format: Int
    var user: String
    var createdMillis: Int64
    var collectionBytes: Int64
    var mediaFiles: Int
    var mediaBytes: Int64
    var mediaLastUsn: Int64
    var linkedMediaFiles: Int
    var missingMediaFiles: [String]

    enum CodingKeys: String, CodingKey {
        case format, user
        case createdMillis = "created_millis"
        case collectionBytes = "collection_bytes"
        case mediaFiles = "media_files"
        case mediaBytes = "media_bytes"
        case mediaLastUsn = "media_last_usn"
        case linkedMediaFiles = "linked_media_files"
        case missingMediaFiles = "missing_media_files"
    }
}

/// Small POSIX file helpers for snapshots and restores.
enum MaintenanceFiles {
    // Everything here looks at names themselves (lstat, O_NOFOLLOW): a symbolic link planted in a
    // snapshot or a media folder is never followed, copied or linked into a user's live files.

    /// True if anything (a dangling symbolic link too) has this name.
    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func isSymbolicLink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Size of a regular file, nil if it is missing, a symbolic link or not a regular file.
    static func regularFileSize(_ path: String) -> Int64? {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(st.st_size)
    }

    static func makeFolder(_ path: String) throws {
        guard mkdir(path, 0o700) == 0 else { throw MaintenanceError.posix("cannot create", path) }
    }

    /// fsync of a file or folder.
    static func sync(_ path: String) throws {
        do { try FileSync.sync(path: path) } catch { throw MaintenanceError("cannot fsync \(path): \(error)") }
    }

    static func parent(of path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().path
    }

    /// Hard-links the regular file `source` to `target` (media files are only ever replaced by rename, never changed
    /// in place, so sharing the inode is safe), or copies and fsyncs it when a link is impossible
    /// (another file system). Returns true for a link.
    @discardableResult
    static func linkOrCopy(_ source: String, _ target: String) throws -> Bool {
        // link() would link a symbolic link itself, not its target: only regular files pass.
        guard regularFileSize(source) != nil else { throw MaintenanceError("refusing: \(source) is not a regular file") }
        if link(source, target) == 0 {
            // The name could have been swapped for a link since the check: look at what was linked.
            guard regularFileSize(target) != nil else {
                unlink(target)
                throw MaintenanceError("refusing: \(source) is not a regular file")
            }
            return true
        }
        let err = errno
        guard err == EXDEV || err == EPERM || err == ENOTSUP || err == EOPNOTSUPP || err == EMLINK || err == EACCES else {
            throw MaintenanceError.posix("cannot link \(source) to", target, err)
        }
        try copy(source, target)
        return false
    }

    /// Copies a regular file to a new file (never replaces one) and fsyncs it.
    static func copy(_ source: String, _ target: String) throws {
        do { try FileSync.copy(from: source, to: target, durable: true) } catch {
            throw MaintenanceError("cannot copy \(source): \(error)")
        }
    }

    /// The raw SHA-1 of a file's content.
    static func sha1(_ path: String) throws -> [UInt8] {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw MaintenanceError.posix("cannot open", path) }
        defer { Glibc.close(fd) }
        var hasher = MediaHasher()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw MaintenanceError.posix("cannot read", path)
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return hasher.finalize()
    }

    /// Writes a new file with `bytes` and fsyncs it.
    static func write(_ bytes: [UInt8], to path: String) throws {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw MaintenanceError.posix("cannot create", path) }
        defer { Glibc.close(fd) }
        var done = 0
        while done < bytes.count {
            let w = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if w < 0 {
                if errno == EINTR { continue }
                throw MaintenanceError.posix("cannot write", path)
            }
            done += w
        }
        guard fsync(fd) == 0 else { throw MaintenanceError.posix("cannot fsync", path) }
    }

    /// Removes a file or a whole folder; missing is fine. A symbolic link is removed, not followed.
    static func removeTree(_ path: String) {
        guard exists(path) else { return }
        try? FileManager.default.removeItem(atPath: path)
    }

    static func randomSuffix() -> String { String(UInt64.random(in: 0 ... .max), radix: 36) }
}
