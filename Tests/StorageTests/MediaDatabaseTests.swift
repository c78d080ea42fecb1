import Foundation
import XCTest
@testable import Storage

final class MediaDatabaseTests: XCTestCase {
    func sha(_ text: String) -> [UInt8] { MediaHasher.sha1(Array(text.utf8)) }

    func add(_ name: String, _ text: String) -> MediaDatabase.Change {
        .addOrReplace(name: name, sha1: sha(text), size: Int64(text.utf8.count))
    }

    func testNewDatabaseHasTheOfficialVersion4Layout() throws {
        let dir = try makeTempDir(self)
        let db = try MediaDatabase.open(atPath: dir + "/media.db")
        let c = db.connection
        XCTAssertEqual(try c.scalar("PRAGMA user_version")?.int64, 4)
        XCTAssertEqual(try c.scalar("PRAGMA journal_mode")?.string, "wal")
        let media = try c.rows("SELECT name, type, \"notnull\", pk FROM pragma_table_info('media') ORDER BY cid")
        XCTAssertEqual(media, [
            [.text("fname"), .text("TEXT"), .integer(1), .integer(1)],
            [.text("csum"), .text("BLOB"), .integer(1), .integer(0)],
            [.text("size"), .text("INT"), .integer(1), .integer(0)],
            [.text("usn"), .text("INT"), .integer(1), .integer(0)],
            [.text("mtime"), .text("INT"), .integer(1), .integer(0)],
        ])
        let meta = try c.rows("SELECT name, type, \"notnull\" FROM pragma_table_info('meta') ORDER BY cid")
        XCTAssertEqual(meta, [
            [.text("last_usn"), .text("INT"), .integer(1)],
            [.text("total_bytes"), .text("INT"), .integer(1)],
            [.text("total_nonempty_files"), .text("INT"), .integer(1)],
        ])
        XCTAssertEqual(try c.rows("SELECT name FROM pragma_index_info('ix_usn')"), [[.text("usn")]])
        XCTAssertEqual(try db.meta(), MediaMeta(lastUsn: 0, totalBytes: 0, liveFiles: 0))
        db.close()
        // Reopening does not recreate or change anything.
        let again = try MediaDatabase.open(atPath: dir + "/media.db")
        XCTAssertEqual(try again.meta(), MediaMeta(lastUsn: 0, totalBytes: 0, liveFiles: 0))
    }

    func testOutcomesFollowTheReferenceTable() throws {
        let dir = try makeTempDir(self)
        let db = try MediaDatabase.open(atPath: dir + "/media.db")
        func apply(_ changes: [MediaDatabase.Change]) throws -> ([MediaDatabase.Outcome], Int64) {
            let r = try db.apply(changes, now: 1_800_000_000)
            return (r.outcomes, r.lastUsn)
        }
        XCTAssertTrue(try apply([add("a.txt", "one")]) == ([.added(usn: 1)], 1))
        XCTAssertTrue(try apply([add("a.txt", "one")]) == ([.identical], 1))
        XCTAssertTrue(try apply([add("a.txt", "two")]) == ([.replaced(usn: 2)], 2))
        XCTAssertTrue(try apply([.delete(name: "never.txt")]) == ([.alreadyDeleted], 2))
        XCTAssertTrue(try apply([.delete(name: "a.txt")]) == ([.removed(usn: 3)], 3))
        XCTAssertTrue(try apply([.delete(name: "a.txt")]) == ([.alreadyDeleted], 3))
        // The tombstone keeps the old checksum, but re-adding that content is an add.
        XCTAssertEqual(try db.entry(named: "a.txt"), MediaEntry(name: "a.txt", sha1: sha("two"), size: 0, usn: 3, mtime: 1_800_000_000))
        XCTAssertTrue(try apply([add("a.txt", "two")]) == ([.added(usn: 4)], 4))
        // Duplicates in one upload apply in order.
        XCTAssertTrue(try apply([add("b", "1"), add("b", "22"), add("c", "c"), .delete(name: "c")])
                      == ([.added(usn: 5), .replaced(usn: 6), .added(usn: 7), .removed(usn: 8)], 8))
        XCTAssertEqual(try db.meta(), MediaMeta(lastUsn: 8, totalBytes: 3 + 2, liveFiles: 2))
        XCTAssertEqual(try db.changes(after: 0), [
            MediaChange(name: "a.txt", usn: 4, sha1Hex: MediaHasher.hex(sha("two"))),
            MediaChange(name: "b", usn: 6, sha1Hex: MediaHasher.hex(sha("22"))),
            MediaChange(name: "c", usn: 8, sha1Hex: ""),
        ])
    }

    func testFailedApplyChangesNothing() throws {
        let dir = try makeTempDir(self)
        let db = try MediaDatabase.open(atPath: dir + "/media.db")
        _ = try db.apply([add("a", "x")], now: 1)
        struct Boom: Error {}
        XCTAssertThrowsError(try db.apply([add("b", "y"), .delete(name: "a")], now: 2) { _ in throw Boom() })
        XCTAssertEqual(try db.meta(), MediaMeta(lastUsn: 1, totalBytes: 1, liveFiles: 1))
        XCTAssertNil(try db.entry(named: "b"))
        XCTAssertEqual(try db.liveEntry(named: "a")?.usn, 1)
    }

    func testChangesAreInUsnOrderAndPaged() throws {
        let dir = try makeTempDir(self)
        let db = try MediaDatabase.open(atPath: dir + "/media.db")
        // Names in reverse order of their usns, so name order and usn order differ.
        let names = (0..<1005).map { String(format: "f%04d", 2000 - $0) }
        for start in stride(from: 0, to: names.count, by: 25) {
            _ = try db.apply(names[start..<min(start + 25, names.count)].map { add($0, $0) }, now: 1)
        }
        _ = try db.apply([add(names[3], "changed")], now: 2)      // moves to usn 1006
        let first = try db.changes(after: 0)
        XCTAssertEqual(first.count, 1000)
        XCTAssertEqual(first.map(\.usn), Array(1...1000).filter { $0 != 4 } + [1001])
        let rest = try db.changes(after: first.last!.usn)
        XCTAssertEqual(rest.map(\.usn), [1002, 1003, 1004, 1005, 1006])
        XCTAssertEqual(rest.last?.name, names[3])
        XCTAssertEqual(try db.changes(after: 1006), [])
        XCTAssertEqual(try db.changes(after: -1).count, 1000)
    }

    func testNamesAreByteExactAndCaseSensitive() throws {
        let dir = try makeTempDir(self)
        let db = try MediaDatabase.open(atPath: dir + "/media.db")
        let nfc = "caf\u{E9}.jpg", nfd = "cafe\u{301}.jpg"
        _ = try db.apply([add(nfc, "x"), add("A.TXT", "a"), add("a.txt", "b")], now: 1)
        XCTAssertNotNil(try db.liveEntry(named: nfc))
        XCTAssertNil(try db.liveEntry(named: nfd))
        XCTAssertEqual(try db.liveEntry(named: "A.TXT")?.sha1, sha("a"))
        XCTAssertEqual(try db.liveEntry(named: "a.txt")?.sha1, sha("b"))
        XCTAssertEqual(Array(try db.changes(after: 0)[0].name.utf8), Array(nfc.utf8))
    }

    func testForgetMissingLeavesNoTombstoneAndKeepsUsn() throws {
        let dir = try makeTempDir(self)
        let db = try MediaDatabase.open(atPath: dir + "/media.db")
        _ = try db.apply([add("lost", "12345"), add("kept", "1")], now: 1)
        try db.forgetMissing(named: "lost")
        XCTAssertNil(try db.entry(named: "lost"))
        XCTAssertEqual(try db.meta(), MediaMeta(lastUsn: 2, totalBytes: 1, liveFiles: 1))
        try db.forgetMissing(named: "nothing")
        XCTAssertEqual(try db.meta().liveFiles, 1)
    }

    func testPendingMovesCommitWithTheirRecordsAndAreDroppedUpToAUsn() throws {
        let dir = try makeTempDir(self)
        let db = try MediaDatabase.open(atPath: dir + "/media.db")
        XCTAssertEqual(try db.pendingMoves(), [])
        _ = try db.apply([add("a", "x"), add("b", "y")], now: 1) { _ in
            try db.addPendingMoves([.init(usn: 1, staged: "s-1"), .init(usn: 2, staged: "")])
        }
        struct Boom: Error {}
        XCTAssertThrowsError(try db.apply([add("c", "z")], now: 2) { _ in
            try db.addPendingMoves([.init(usn: 3, staged: "s-3")])
            throw Boom()
        })
        XCTAssertEqual(try db.pendingMoves(), [.init(usn: 1, staged: "s-1"), .init(usn: 2, staged: "")], "rolled back with its records")
        try db.dropPendingMoves(through: 1)
        XCTAssertEqual(try db.pendingMoves(), [.init(usn: 2, staged: "")])
    }

    func testPendingMovesTableIsAddedToAnOfficialDatabase() throws {
        let dir = try makeTempDir(self)
        let official = try SQLiteConnection(path: dir + "/media.db", create: true)
        try official.execute(MediaDatabase.createSQL)
        official.close()
        let db = try MediaDatabase.open(atPath: dir + "/media.db")
        try db.addPendingMoves([.init(usn: 7, staged: "s-7")])
        XCTAssertEqual(try db.pendingMoves(), [.init(usn: 7, staged: "s-7")])
        XCTAssertEqual(try db.connection.scalar("PRAGMA user_version")?.int64, 4, "the official version is kept")
    }

    func testVersion3IsUpgradedKeepingTombstonesAndTheCounter() throws {
        let dir = try makeTempDir(self)
        let path = dir + "/media.db"
        let old = try SQLiteConnection(path: path, create: true)
        try old.execute("""
            CREATE TABLE media (fname text NOT NULL PRIMARY KEY, csum blob, sz int NOT NULL, usn int NOT NULL, deleted int NOT NULL);
            CREATE INDEX ix_usn ON media (usn);
            CREATE TABLE meta (usn int NOT NULL, sz int NOT NULL);
            INSERT INTO meta VALUES (12, 7);
            INSERT INTO media VALUES ('live.txt', x'00112233445566778899aabbccddeeff00112233', 7, 5, 100);
            INSERT INTO media VALUES ('gone.txt', NULL, 0, 9, 200);
            PRAGMA user_version = 3;
            """)
        old.close()
        let db = try MediaDatabase.open(atPath: path)
        XCTAssertEqual(try db.connection.scalar("PRAGMA user_version")?.int64, 4)
        XCTAssertEqual(try db.meta(), MediaMeta(lastUsn: 12, totalBytes: 7, liveFiles: 1))
        XCTAssertEqual(try db.changes(after: 0), [
            MediaChange(name: "live.txt", usn: 5, sha1Hex: "00112233445566778899aabbccddeeff00112233"),
            MediaChange(name: "gone.txt", usn: 9, sha1Hex: ""),
        ])
        XCTAssertTrue(try db.apply([add("new", "n")], now: 1).lastUsn == 13)
    }

    func testUnknownVersionAndForeignFilesAreRefused() throws {
        let dir = try makeTempDir(self)
        let future = try SQLiteConnection(path: dir + "/future.db", create: true)
        try future.execute("PRAGMA user_version = 5")
        future.close()
        XCTAssertThrowsError(try MediaDatabase.open(atPath: dir + "/future.db")) {
            XCTAssertEqual($0 as? MediaDatabaseError, .unknownVersion(5))
        }
        let foreign = try SQLiteConnection(path: dir + "/foreign.db", create: true)
        try foreign.execute("CREATE TABLE t(x)")
        foreign.close()
        XCTAssertThrowsError(try MediaDatabase.open(atPath: dir + "/foreign.db"))
    }
}

final class MediaRulesTests: XCTestCase {
    func testNameRules() {
        for bad in ["", ".", "..", "a/b", "../x", "a\\b", "nul\u{0}here", "cafe\u{301}.jpg", String(repeating: "n", count: 252) + ".txt"] {
            XCTAssertNotNil(MediaNames.problem(with: bad), bad)
        }
        for good in ["caf\u{E9}.jpg", "日本語.png", "😀 smile.gif", "A.TXT", "...", ".hidden", "a..b",
                     String(repeating: "n", count: 251) + ".txt", "what?.txt"] {
            XCTAssertNil(MediaNames.problem(with: good), good)
        }
        XCTAssertTrue(MediaNames.problem(with: "cafe\u{301}.jpg")!.contains("NFC"))
    }

    func testManifestParsing() throws {
        let parsed = try MediaManifest.parse(Array(#"[["a.txt","0"],["b.txt",null],["c.txt",""]]"#.utf8))
        XCTAssertEqual(parsed, [MediaManifestEntry(name: "a.txt", member: "0"), MediaManifestEntry(name: "b.txt", member: nil),
                                MediaManifestEntry(name: "c.txt", member: nil)])
        XCTAssertEqual(try MediaManifest.parse(Array("  []  ".utf8)), [])
        let many = "[" + (0..<26).map { "[\"f\($0)\",\"\($0)\"]" }.joined(separator: ",") + "]"
        XCTAssertThrowsError(try MediaManifest.parse(Array(many.utf8)))
        XCTAssertEqual(try MediaManifest.parse(Array(("[" + (0..<25).map { "[\"f\($0)\",\"\($0)\"]" }.joined(separator: ",") + "]").utf8)).count, 25)
        for bad in [#"[["a.txt"]]"#, #"[["a.txt","0","x"]]"#, #"{"a.txt":"0"}"#, #"[[null,"0"]]"#, #"[["a.txt",0]]"#,
                    #"[["../a","0"]]"#, "", "[["] {
            XCTAssertThrowsError(try MediaManifest.parse(Array(bad.utf8)), bad)
        }
    }

    /// New files must keep their name through the client's normalisation (MEDIA.md 6.3).
    func testNewFileNamesFollowTheClientsNormalisation() {
        let bad = ["\n", " ", "a?b", "con.jpg", "CON", "Aux", "nul.tar.gz", "com1.txt", "LPT9", "trail.", "trail ",
                   "tab\there", "del\u{7F}.txt", "x\u{A0}y.jpg", "a:b", "a*b", "a^b", "a|b", "a<b>", "a[b]", "q\"uote",
                   "\u{378}.txt", "b\u{1F970}.png", String(Unicode.Scalar(UInt32(0xFDD0))!) + ".txt", String(repeating: "n", count: 117) + ".txt"]
        for name in bad {
            XCTAssertNotNil(MediaNames.newFileProblem(with: name), name.debugDescription)
        }
        let good = ["console.jpg", "com10.txt", "com0.txt", "lpt.txt", "a b.jpg", "caf\u{E9}.jpg", "日本語.png",
                    "😀 smile.gif", "a\u{1F92A}.png", ".hidden", "a..b", "Upper.MP3", String(repeating: "n", count: 116) + ".txt"]
        for name in good {
            XCTAssertNil(MediaNames.newFileProblem(with: name), name)
        }
        XCTAssertTrue(MediaNames.newFileProblem(with: "\n")?.contains("control character") ?? false)
        XCTAssertTrue(MediaNames.newFileProblem(with: "con.jpg")?.contains("device name") ?? false)
    }

    /// Deletes keep the basic rules only: clients delete names a lenient server once sent them.
    func testDeletesOfOddNamesAreAccepted() throws {
        let parsed = try MediaManifest.parse(Array(#"[["what?.txt",null],["trail ",""],["con.jpg",null]]"#.utf8))
        XCTAssertEqual(parsed.map(\.member), [nil, nil, nil])
        XCTAssertThrowsError(try MediaManifest.parse(Array(#"[["what?.txt","0"]]"#.utf8)))
        XCTAssertThrowsError(try MediaManifest.parse(Array(#"[["a/b",null]]"#.utf8)))
    }

    func testUploadBudget() throws {
        XCTAssertEqual(MediaLimits.maxUploadInflatedBytes, 2_621_440 + 100 * 1024 * 1024)
        XCTAssertNoThrow(try MediaManifest.checkBudget(memberCount: 26, declaredSizes: [2_621_440, 100 * 1024 * 1024]))
        XCTAssertThrowsError(try MediaManifest.checkBudget(memberCount: 27, declaredSizes: [1])) {
            XCTAssertTrue("\($0)".contains("26"), "\($0)")
        }
        let bomb = [Int](repeating: 100 * 1024 * 1024, count: 25)
        XCTAssertThrowsError(try MediaManifest.checkBudget(memberCount: 26, declaredSizes: bomb)) {
            XCTAssertTrue("\($0)".contains(String(MediaLimits.maxUploadInflatedBytes)), "\($0)")
        }
        XCTAssertThrowsError(try MediaManifest.checkBudget(memberCount: 3, declaredSizes: [MediaLimits.maxUploadInflatedBytes, 1]))
    }

    func testHasher() {
        XCTAssertEqual(MediaHasher.hex(MediaHasher.sha1(Array("abc".utf8))), "a9993e364706816aba3e25717850c26c9cd0d89d")
    }
}
