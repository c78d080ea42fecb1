import CSQLite
import FoundationEssentials
import Shared

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// `Collection` has members named `open`/`close`; these reach the C functions unambiguously.
private func posixOpen(_ path: String, _ flags: Int32) -> Int32 { open(path, flags) }
private func posixClose(_ fd: Int32) { _ = close(fd) }

/// Upload validation: what a full upload must be before it replaces a user's collection.
extension Collection {
    private static let sqliteMagic = Array("SQLite format 3\0".utf8)

    /// The page cache of the upload check, in KiB (SQLite's default: 2,000). `integrity_check`
    /// looks up every row's index entries, and with the default cache most lookups read their
    /// pages again: on a 94 MiB upload 8 MiB took a fifth less CPU (1.24 → 1.0 s). More would
    /// cost the upload's peak memory (an XL upload's stays under 40 MB in all).
    static let integrityCheckCacheKiB = 8 * 1024

    /// Checks that the file at `path` is an acceptable schema-18 collection, without modifying it
    /// (opened `immutable`, so SQLite takes no locks and creates no `-wal`/`-shm` files; a `-wal` next
    /// to it is ignored). Throws `CollectionError.invalidUpload` naming the first problem found.
    public static func validateUpload(atPath path: String) throws {
        func reject(_ reason: String) -> CollectionError { .invalidUpload(reason: reason) }

        let header: [UInt8]
        let fileSize: UInt64
        do {
            let fd = posixOpen(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw reject("cannot read file: \(String(cString: strerror(errno)))") }
            defer { posixClose(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw reject("cannot read file: \(String(cString: strerror(errno)))") }
            var buffer = [UInt8](repeating: 0, count: 100)
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 100, 0) }
            guard got >= 0 else { throw reject("cannot read file: \(String(cString: strerror(errno)))") }
            header = Array(buffer.prefix(got))
            fileSize = UInt64(st.st_size)
        }
        if header.isEmpty { throw reject("file is empty") }
        guard header.count == 100, Array(header.prefix(16)) == sqliteMagic else {
            throw reject("not a SQLite database (bad header)")
        }
        if let problem = sizeProblem(header: header, fileSize: fileSize) { throw reject(problem) }

        let db: SQLiteConnection
        do {
            db = try SQLiteConnection.openImmutable(path: path)
        } catch {
            throw reject("cannot open as SQLite: \(error)")
        }
        defer { db.close() }

        do {
            // Reading the schema makes SQLite parse page 1 and the header.
            _ = try db.scalar("SELECT count(*) FROM sqlite_master")
        } catch {
            throw reject("cannot read database schema: \(error)")
        }

        // Anki's collections (ours, the official server's, every client's) have tables and
        // indexes only. A trigger, view or virtual table would run its own code on our later
        // writes or reads, so a file carrying one is refused as corrupt.
        do {
            let code = try db.rows("SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view') "
                + "OR (type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%')")
            if let first = code.first {
                throw reject("contains a \(first[0].string ?? "schema object") (\(first[1].string ?? "?")); collections have tables and indexes only")
            }
        } catch let error as CollectionError {
            throw error
        } catch {
            throw reject("cannot read database schema: \(error)")
        }

        let problems: [[SQLiteValue]]
        do {
            try db.execute("PRAGMA cache_size = -\(Self.integrityCheckCacheKiB)")
            problems = try db.rows("PRAGMA integrity_check")
        } catch {
            throw reject("integrity check failed: \(error)")
        }
        guard problems == [[.text("ok")]] else {
            let lines = problems.prefix(5).map { $0.first?.string ?? "\($0)" }.joined(separator: "; ")
            throw reject("integrity check failed: \(lines)")
        }

        let tables: Set<String>
        do {
            tables = Set(try db.rows("SELECT name FROM sqlite_master WHERE type = 'table'").compactMap { $0.first?.string })
        } catch {
            throw reject("cannot list tables: \(error)")
        }
        if !tables.contains("col") { throw reject("no col table") }

        do {
            let rows = try db.rows("SELECT ver FROM col")
            guard rows.count == 1 else { throw reject("col has \(rows.count) rows, expected exactly 1") }
            guard let ver = rows[0].first?.int64 else { throw reject("col.ver is not an integer") }
            guard ver == Schema.version else { throw reject("schema version \(ver), expected \(Schema.version)") }
        } catch let error as CollectionError {
            throw error
        } catch {
            throw reject("cannot read col: \(error)")
        }

        let missing = Schema.coreTables.filter { !tables.contains($0) }
        guard missing.isEmpty else { throw reject("missing tables: \(missing.joined(separator: ", "))") }
    }

    /// SQLite reads missing pages of a short file as zeros, so a cut that only removes zero bytes
    /// would pass the integrity check; compare the size with the header instead.
    static func sizeProblem(header: [UInt8], fileSize: UInt64) -> String? {
        func be32(_ at: Int) -> UInt64 { header[at..<at + 4].reduce(0) { $0 << 8 | UInt64($1) } }
        let rawPageSize = UInt64(header[16]) << 8 | UInt64(header[17])
        let pageSize = rawPageSize == 1 ? 65536 : rawPageSize
        guard pageSize >= 512, pageSize <= 65536, pageSize & (pageSize - 1) == 0 else {
            return "invalid page size \(rawPageSize) in header"
        }
        guard fileSize % pageSize == 0 else {
            return "file size \(fileSize) is not a multiple of the page size \(pageSize) (truncated?)"
        }
        // The in-header page count is only meaningful when "version valid for" matches the change counter.
        let pageCount = be32(28)
        if pageCount != 0, be32(92) == be32(24), fileSize < pageCount * pageSize {
            return "file is truncated: \(fileSize) bytes, header says \(pageCount) pages of \(pageSize)"
        }
        return nil
    }
}
