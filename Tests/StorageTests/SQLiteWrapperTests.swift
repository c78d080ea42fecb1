import CSQLite
import Foundation
import XCTest
@testable import Storage

final class SQLiteWrapperTests: XCTestCase {
    private func memoryDB() throws -> SQLiteConnection {
        try SQLiteConnection(path: ":memory:", create: true)
    }

    func testBindAndReadEveryStorageClass() throws {
        let db = try memoryDB()
        try db.execute("CREATE TABLE t (a, b, c, d, e, f)")
        let insert = try db.prepare("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)")
        try insert.bind(1, Int64.min)
        try insert.bind(2, 2.5)
        try insert.bind(3, "héllo\u{1f}")
        try insert.bind(4, [0, 1, 255] as [UInt8])
        try insert.bind(5, Data([7, 8]))
        try insert.bindNull(6)
        XCTAssertFalse(try insert.step())

        let rows = try db.rows("SELECT a, b, c, d, e, f, typeof(c), typeof(d), typeof(e), typeof(f) FROM t")
        XCTAssertEqual(rows, [[
            .integer(Int64.min), .real(2.5), .text("héllo\u{1f}"), .blob([0, 1, 255]), .blob([7, 8]), .null,
            .text("text"), .text("blob"), .text("blob"), .text("null"),
        ]])
    }

    func testEmptyBlobIsBlobNotNull() throws {
        let db = try memoryDB()
        XCTAssertEqual(try db.scalar("SELECT typeof(?)", [.blob([])]), .text("blob"))
    }

    func testStatementResetAndReuse() throws {
        let db = try memoryDB()
        try db.execute("CREATE TABLE t (x integer)")
        let insert = try db.prepare("INSERT INTO t VALUES (?)")
        for i in 0..<5 {
            try insert.bind(1, Int64(i))
            try insert.step()
            insert.reset()
        }
        let select = try db.prepare("SELECT x FROM t ORDER BY x")
        var seen: [Int64] = []
        while try select.step() { seen.append(select.int64(0)) }
        XCTAssertEqual(seen, [0, 1, 2, 3, 4])
        select.reset()
        XCTAssertTrue(try select.step())
        XCTAssertEqual(select.int64(0), 0)
        XCTAssertEqual(select.columnName(0), "x")
    }

    func testErrorsCarryCodeAndMessage() throws {
        let db = try memoryDB()
        XCTAssertThrowsError(try db.execute("SELEC 1")) { error in
            let e = error as? SQLiteError
            XCTAssertEqual(e?.primaryCode, SQLITE_ERROR)
            XCTAssertTrue(e?.message.contains("syntax error") ?? false, "\(error)")
        }
        try db.execute("CREATE TABLE t (x integer PRIMARY KEY)")
        try db.run("INSERT INTO t VALUES (1)")
        XCTAssertThrowsError(try db.run("INSERT INTO t VALUES (1)")) { error in
            let e = error as? SQLiteError
            XCTAssertEqual(e?.primaryCode, SQLITE_CONSTRAINT)
            XCTAssertEqual(e?.code, SQLITE_CONSTRAINT | (6 << 8), "extended code: PRIMARYKEY")
            XCTAssertTrue(e?.description.contains("UNIQUE constraint failed") ?? false, "\(error)")
        }
        XCTAssertThrowsError(try db.prepare("SELECT * FROM missing")) { error in
            XCTAssertTrue("\(error)".contains("no such table: missing"), "\(error)")
        }
    }

    func testTransactionCommitAndRollback() throws {
        let db = try memoryDB()
        try db.execute("CREATE TABLE t (x integer)")
        try db.transaction(immediate: true) { try db.run("INSERT INTO t VALUES (1)") }
        struct Boom: Error {}
        XCTAssertThrowsError(try db.transaction {
            try db.run("INSERT INTO t VALUES (2)")
            XCTAssertTrue(db.inTransaction)
            throw Boom()
        })
        XCTAssertFalse(db.inTransaction)
        XCTAssertEqual(try db.scalar("SELECT group_concat(x) FROM t"), .text("1"))

        try db.begin()
        try db.run("INSERT INTO t VALUES (3)")
        try db.rollback()
        try db.begin(immediate: true)
        try db.run("INSERT INTO t VALUES (4)")
        try db.commit()
        XCTAssertEqual(try db.scalar("SELECT group_concat(x) FROM t"), .text("1,4"))
    }

    func testUnicaseCollationIsRegistered() throws {
        let db = try memoryDB()
        XCTAssertEqual(try db.scalar("SELECT 'Default' = 'dEFAULT' COLLATE unicase"), .integer(1))
        XCTAssertEqual(try db.scalar("SELECT 'Default' = 'dEFAULT'"), .integer(0))
        try db.execute("CREATE TABLE tags (tag text NOT NULL PRIMARY KEY COLLATE unicase) WITHOUT ROWID")
        try db.run("INSERT INTO tags VALUES ('Tag::Sub')")
        XCTAssertThrowsError(try db.run("INSERT INTO tags VALUES ('TAG::SUB')"))
    }

    func testClosedConnectionThrowsAndCloseIsIdempotent() throws {
        let db = try memoryDB()
        db.close()
        db.close()
        XCTAssertFalse(db.isOpen)
        XCTAssertThrowsError(try db.execute("SELECT 1")) { error in
            XCTAssertEqual((error as? SQLiteError)?.code, SQLITE_MISUSE)
        }
    }

    func testOpenMissingFileWithoutCreateFails() throws {
        let dir = try makeTempDir(self)
        XCTAssertThrowsError(try SQLiteConnection(path: dir + "/nope.db")) { error in
            XCTAssertEqual((error as? SQLiteError)?.primaryCode, SQLITE_CANTOPEN)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/nope.db"))
    }

    func testBusyTimeoutIsSet() throws {
        let dir = try makeTempDir(self)
        let path = dir + "/busy.db"
        let a = try SQLiteConnection(path: path, create: true)
        try a.execute("CREATE TABLE t (x)")
        let b = try SQLiteConnection(path: path)
        try a.begin(immediate: true)
        let start = Date()
        XCTAssertThrowsError(try b.begin(immediate: true)) { error in
            XCTAssertEqual((error as? SQLiteError)?.primaryCode, SQLITE_BUSY)
        }
        XCTAssertGreaterThan(Date().timeIntervalSince(start), 1.0, "busy timeout should make it wait")
        try a.rollback()
    }
}
