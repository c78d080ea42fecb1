import CSQLite
import Foundation
import XCTest
@testable import Storage

final class OpenAndDownloadTests: XCTestCase {
    private var dir = ""
    private var path = ""

    override func setUpWithError() throws {
        dir = try makeTempDir(self)
        path = dir + "/collection.anki2"
        try Collection.createNew(atPath: path, nowMillis: testNowMillis)
    }

    private func walSize() -> Int64 {
        let attrs = try? FileManager.default.attributesOfItem(atPath: path + "-wal")
        return (attrs?[.size] as? NSNumber)?.int64Value ?? 0
    }

    /// Reads `col` from the main file alone, ignoring any WAL (as a downloader of the bytes would).
    private func mainFileCol() throws -> [SQLiteValue] {
        let db = try SQLiteConnection.openImmutable(path: path)
        defer { db.close() }
        return try db.rows("SELECT usn, mod FROM col").first ?? []
    }

    func testPrepareForDownloadBumpsUsnAndModAndCheckpoints() throws {
        let col = try Collection.open(atPath: path)
        defer { col.close() }
        // Leave committed frames in the WAL first.
        try col.db.run("INSERT INTO tags VALUES ('x', 0, 1, NULL)")
        XCTAssertGreaterThan(walSize(), 0)
        XCTAssertEqual(try mainFileCol(), [.integer(0), .integer(0)])

        try col.prepareForDownload(nowMillis: testNowMillis + 5000)
        XCTAssertEqual(try col.meta(), CollectionMeta(mod: testNowMillis + 5000, scm: testNowMillis, usn: 1, isEmpty: true))
        XCTAssertEqual(walSize(), 0, "WAL truncated")
        XCTAssertEqual(try mainFileCol(), [.integer(1), .integer(testNowMillis + 5000)], "main file self-contained")

        try col.prepareForDownload(nowMillis: testNowMillis + 9000)
        XCTAssertEqual(try col.meta().usn, 2)
        XCTAssertEqual(try mainFileCol(), [.integer(2), .integer(testNowMillis + 9000)])
        // The bytes as they are now pass upload validation, tag included.
        XCTAssertNoThrow(try Collection.validateUpload(atPath: path))
    }

    func testOpenSetsTheCacheAndCheckpointPointAndIdleCheckpointEmptiesTheWal() throws {
        let col = try Collection.open(atPath: path)
        defer { col.close() }
        XCTAssertEqual(try col.db.scalar("PRAGMA cache_size"), .integer(-Int64(Collection.pageCacheKiB)))
        XCTAssertEqual(try col.db.scalar("PRAGMA wal_autocheckpoint"), .integer(Int64(Collection.walAutocheckpointPages)))
        try col.db.run("INSERT INTO tags VALUES ('x', 0, 1, NULL)")
        XCTAssertGreaterThan(walSize(), 0)
        try col.db.begin()
        try col.checkpointIfPending()
        XCTAssertGreaterThan(walSize(), 0, "not inside a transaction")
        try col.db.rollback()
        col.releaseMemory()
        try col.checkpointIfPending()
        XCTAssertEqual(walSize(), 0)
        XCTAssertEqual(try mainFileCol().count, 2)
        XCTAssertEqual(try col.db.scalar("SELECT count() FROM tags WHERE tag = 'x'"), .integer(1))
    }

    func testPrepareForDownloadFailsInsideTransaction() throws {
        let col = try Collection.open(atPath: path)
        defer { col.close() }
        try col.db.begin()
        XCTAssertThrowsError(try col.prepareForDownload(nowMillis: 1)) { error in
            guard case .misuse = error as? CollectionError else { return XCTFail("\(error)") }
        }
        try col.db.rollback()
        XCTAssertEqual(try col.meta().usn, 0)
    }

    func testPrepareForDownloadReportsBlockedCheckpoint() throws {
        let col = try Collection.open(atPath: path)
        defer { col.close() }
        let reader = try SQLiteConnection(path: path)
        defer { reader.close() }
        try reader.begin()
        _ = try reader.scalar("SELECT count(*) FROM decks")
        try col.db.run("INSERT INTO tags VALUES ('y', 0, 1, NULL)")
        XCTAssertThrowsError(try col.prepareForDownload(nowMillis: 7)) { error in
            guard case .checkpointIncomplete = error as? CollectionError else { return XCTFail("\(error)") }
        }
        try reader.rollback()
        try col.prepareForDownload(nowMillis: 8)
        XCTAssertEqual(walSize(), 0)
    }

    func testCloseIsIdempotentAndRemovesWal() throws {
        let col = try Collection.open(atPath: path)
        try col.db.run("INSERT INTO tags VALUES ('z', 0, 1, NULL)")
        col.close()
        col.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "-wal"))
        XCTAssertThrowsError(try col.meta())
        XCTAssertThrowsError(try col.prepareForDownload(nowMillis: 1))
    }

    func testOpenRejectsNonCollections() throws {
        XCTAssertThrowsError(try Collection.open(atPath: dir + "/missing.anki2")) { error in
            guard case .notACollection = error as? CollectionError else { return XCTFail("\(error)") }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/missing.anki2"), "open never creates")

        let junk = dir + "/junk.anki2"
        try writeBytes((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }, to: junk)
        XCTAssertThrowsError(try Collection.open(atPath: junk)) { error in
            guard case .notACollection = error as? CollectionError else { return XCTFail("\(error)") }
        }

        let plain = dir + "/plain.db"
        let db = try SQLiteConnection(path: plain, create: true)
        try db.execute("CREATE TABLE foo (x)")
        db.close()
        XCTAssertThrowsError(try Collection.open(atPath: plain)) { error in
            XCTAssertEqual(error as? CollectionError, .notACollection(path: plain, reason: "no col table"))
        }

        let old = try Collection.open(atPath: path)
        try old.db.run("UPDATE col SET ver = 11")
        old.close()
        XCTAssertThrowsError(try Collection.open(atPath: path)) { error in
            XCTAssertTrue("\(error)".contains("schema version"), "\(error)")
        }
    }
}
