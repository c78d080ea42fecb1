import CSQLite
import Foundation
import XCTest
@testable import Storage

final class ValidateUploadTests: XCTestCase {
    private var dir = ""
    private var path = ""

    override func setUpWithError() throws {
        dir = try makeTempDir(self)
        path = dir + "/upload.anki2"
        try Collection.createNew(atPath: path, nowMillis: testNowMillis)
    }

    /// Asserts rejection with a reason containing `fragment`.
    private func assertRejected(_ file: String, _ fragment: String?, line: UInt = #line) {
        XCTAssertThrowsError(try Collection.validateUpload(atPath: file), line: line) { error in
            guard case .invalidUpload(let reason) = error as? CollectionError else {
                return XCTFail("unexpected error \(error)", line: line)
            }
            if let fragment {
                XCTAssertTrue(reason.contains(fragment), "reason '\(reason)' lacks '\(fragment)'", line: line)
            }
            XCTAssertTrue("\(error)".contains(reason), line: line)
        }
    }

    /// Edits the file with a plain connection (`Collection.open` would refuse the results).
    private func edit(_ sql: String) throws {
        let db = try SQLiteConnection(path: path)
        try db.execute(sql)
        db.close()
    }

    func testAcceptsFreshCollectionWithoutTouchingIt() throws {
        let before = try readBytes(path)
        XCTAssertEqual(before[18], 2)
        XCTAssertEqual(before[19], 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "-wal"))
        let mtime = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date

        try Collection.validateUpload(atPath: path)

        XCTAssertEqual(try readBytes(path), before, "file unchanged")
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date, mtime)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["upload.anki2"], "no -wal/-shm created")
    }

    func testAcceptsFileInReadOnlyDirectory() throws {
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: dir)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir) }
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: path)
        XCTAssertNoThrow(try Collection.validateUpload(atPath: path))
    }

    func testAcceptsPathNeedingURIEscapes() throws {
        let odd = dir + "/we?ird #name%20ü.anki2"
        try FileManager.default.copyItem(atPath: path, toPath: odd)
        XCTAssertNoThrow(try Collection.validateUpload(atPath: odd))
    }

    func testRejectsRandomBytes() throws {
        var rng = SystemRandomNumberGenerator()
        try writeBytes((0..<65536).map { _ in UInt8.random(in: 0...255, using: &rng) }, to: path)
        assertRejected(path, "bad header")
    }

    func testRejectsEmptyFile() throws {
        try writeBytes([], to: path)
        assertRejected(path, "empty")
    }

    func testRejectsMissingFile() throws {
        assertRejected(dir + "/nothing.anki2", "cannot read")
    }

    func testRejectsFileShorterThanHeader() throws {
        try writeBytes(Array(try readBytes(path).prefix(50)), to: path)
        assertRejected(path, "bad header")
    }

    func testRejectsTruncatedFile() throws {
        let full = try readBytes(path)
        XCTAssertGreaterThan(full.count, 4 * 4096)
        try writeBytes(Array(full.prefix(full.count / 2)), to: path)
        assertRejected(path, "truncated")
        try writeBytes(Array(full.prefix(4096)), to: path)
        assertRejected(path, "truncated")
        // The last page's tail is often zeros, which SQLite would read back unchanged: the size check catches it.
        try writeBytes(Array(full.prefix(full.count - 100)), to: path)
        assertRejected(path, "not a multiple of the page size")
        try writeBytes(Array(full.prefix(full.count - 4096)), to: path)
        assertRejected(path, "truncated")
    }

    func testRejectsSQLiteFileWithoutTables() throws {
        let other = dir + "/other.db"
        let db = try SQLiteConnection(path: other, create: true)
        try db.execute("CREATE TABLE foo (x); INSERT INTO foo VALUES (1)")
        db.close()
        assertRejected(other, "no col table")
    }

    func testRejectsMissingCoreTable() throws {
        try edit("DROP TABLE revlog")
        assertRejected(path, "missing tables: revlog")
        try edit("DROP TABLE tags; DROP TABLE graves")
        assertRejected(path, "missing tables: revlog, graves, tags")
    }

    func testRejectsOtherSchemaVersions() throws {
        for ver in [11, 17, 19] {
            try edit("UPDATE col SET ver = \(ver)")
            assertRejected(path, "schema version \(ver)")
        }
        try edit("UPDATE col SET ver = 18")
        XCTAssertNoThrow(try Collection.validateUpload(atPath: path))
    }

    func testRejectsSchemaCode() throws {
        let stock = try SQLiteConnection(path: path)
        XCTAssertEqual(try stock.scalar("SELECT count(*) FROM sqlite_master WHERE type NOT IN ('table', 'index')")?.int64, 0,
                       "a new collection has tables and indexes only")
        stock.close()
        for (sql, fragment, undo) in [
            ("CREATE TRIGGER t AFTER INSERT ON notes BEGIN DELETE FROM cards; END", "contains a trigger (t)", "DROP TRIGGER t"),
            ("CREATE VIEW v AS SELECT id FROM notes", "contains a view (v)", "DROP VIEW v"),
            ("CREATE VIRTUAL TABLE vt USING fts5(x)", "contains a table (vt)", "DROP TABLE vt"),
        ] {
            try edit(sql)
            assertRejected(path, fragment)
            try edit(undo)
            XCTAssertNoThrow(try Collection.validateUpload(atPath: path))
        }
    }

    func testConnectionsAreDefensive() throws {
        let db = try SQLiteConnection(path: path)
        defer { db.close() }
        // Defensive mode: the schema cannot be written directly, even when asked to.
        try db.execute("PRAGMA writable_schema = ON")
        XCTAssertThrowsError(try db.execute("UPDATE sqlite_master SET sql = sql WHERE name = 'col'"))
        XCTAssertEqual(try db.scalar("PRAGMA trusted_schema")?.int64, 0)
        XCTAssertEqual(try db.scalar("PRAGMA temp_store")?.int64, 2)
        XCTAssertThrowsError(try db.execute("SELECT load_extension('/nonexistent')"))
    }

    func testRejectsTwoColRows() throws {
        try edit("INSERT INTO col SELECT 2, crt, mod, scm, ver, dty, usn, ls, conf, models, decks, dconf, tags FROM col")
        assertRejected(path, "2 rows")
        try edit("DELETE FROM col")
        assertRejected(path, "0 rows")
    }

    func testRejectsCorruptedPage() throws {
        // Give the notes table and its indexes several pages, then scribble over one index page.
        let col = try Collection.open(atPath: path)
        try col.db.transaction {
            let insert = try col.db.prepare("INSERT INTO notes VALUES (?, ?, 1, 0, 0, '', ?, '', ?, 0, '')")
            for i in 0..<400 {
                try insert.bind(1, Int64(i + 1))
                try insert.bind(2, "guid\(i)")
                try insert.bind(3, String(repeating: "field \(i) ", count: 10))
                try insert.bind(4, Int64(i * 7919 % 1000))
                try insert.step()
                insert.reset()
            }
        }
        let root = try col.db.scalar("SELECT rootpage FROM sqlite_master WHERE name = 'ix_notes_csum'")?.int64 ?? 0
        col.close()
        XCTAssertNoThrow(try Collection.validateUpload(atPath: path))
        XCTAssertGreaterThan(root, 1)

        var bytes = try readBytes(path)
        let start = Int(root - 1) * 4096
        for i in (start + 200)..<(start + 2000) { bytes[i] = UInt8(truncatingIfNeeded: i &* 13) }
        try writeBytes(bytes, to: path)
        assertRejected(path, "integrity check failed")
    }

    func testRejectsIndexBuiltWithDifferentCollation() throws {
        // Rows ordered by a comparator that disagrees with unicase (as with a wrong fold table).
        var raw: OpaquePointer?
        XCTAssertEqual(sqlite3_open(path, &raw), SQLITE_OK)
        let db = try XCTUnwrap(raw)
        sqlite3_create_collation_v2(db, "unicase", SQLITE_UTF8, nil, { _, la, pa, lb, pb in
            let a = UnsafeRawBufferPointer(start: pa, count: Int(la))
            let b = UnsafeRawBufferPointer(start: pb, count: Int(lb))
            return -Unicase.compare(a, b)
        }, nil)
        for (i, name) in ["alpha", "Beta", "gamma", "Delta", "epsilon"].enumerated() {
            XCTAssertEqual(sqlite3_exec(db, "INSERT INTO decks VALUES (\(i + 10), '\(name)', 0, 0, x'0801', x'0a020801')", nil, nil, nil), SQLITE_OK)
        }
        sqlite3_close(db)
        assertRejected(path, "integrity check failed")
    }

    func testWalFileNextToUploadIsIgnoredAndKept() throws {
        // Whatever sits in a -wal next to the upload is not part of what is validated (or stored).
        try writeBytes(Array(repeating: 0xAB, count: 1000), to: path + "-wal")
        XCTAssertNoThrow(try Collection.validateUpload(atPath: path))
        XCTAssertEqual(try readBytes(path + "-wal"), Array(repeating: 0xAB, count: 1000))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "-shm"))
    }
}
