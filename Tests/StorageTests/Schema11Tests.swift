import Foundation
import XCTest
@testable import Shared
@testable import Storage

final class Schema11Tests: XCTestCase {
    func objectRows(_ path: String) throws -> [String: [[SQLiteValue]]] {
        let db = try SQLiteConnection(path: path, readOnly: true)
        defer { db.close() }
        return [
            "notetypes": try db.rows("SELECT id, name, mtime_secs, usn, config FROM notetypes ORDER BY id"),
            "fields": try db.rows("SELECT ntid, ord, name, config FROM fields ORDER BY ntid, ord"),
            "templates": try db.rows("SELECT ntid, ord, name, config FROM templates ORDER BY ntid, ord"),
            "decks": try db.rows("SELECT id, name, mtime_secs, usn, common, kind FROM decks ORDER BY id"),
            "deck_config": try db.rows("SELECT id, name, mtime_secs, usn, config FROM deck_config ORDER BY id"),
            "config": try db.rows("SELECT KEY, val FROM config ORDER BY KEY"),
            "tags": try db.rows("SELECT tag, usn FROM tags ORDER BY tag"),
            "graves": try db.rows("SELECT oid, type, usn FROM graves ORDER BY oid, type"),
            "col": try db.rows("SELECT crt, mod, scm, usn FROM col"),
        ]
    }

    func testDowngradeThenUpgradeRoundTrips() throws {
        let dir = try makeTempDir(self)
        let path = dir + "/collection.anki2"
        try Collection.createNew(atPath: path, nowMillis: 1_796_000_000_000)
        do {
            let c = try Collection.open(atPath: path)
            try c.db.execute("INSERT INTO tags (tag, usn, collapsed, config) VALUES ('alpha', 3, 0, NULL), ('Beta::x', 0, 0, NULL)")
            try c.db.execute("INSERT INTO graves (oid, type, usn) VALUES (5, 1, 2), (6, 0, 2)")
            c.close()
        }
        let before = try objectRows(path)
        try Schema11.downgrade(atPath: path)
        XCTAssertEqual(Schema11.version(atPath: path), 11)
        do {
            let db = try SQLiteConnection(path: path, readOnly: true)
            defer { db.close() }
            let tables = Set(try db.rows("SELECT name FROM sqlite_master WHERE type = 'table'").compactMap { $0[0].string })
            XCTAssertEqual(tables, ["col", "notes", "cards", "revlog", "graves"])
            let row = try db.rows("SELECT conf, models, decks, dconf, tags FROM col")[0]
            for value in row {
                guard case .object(let o) = try JSON.parse(value.string ?? "") else { return XCTFail("not a JSON object") }
                XCTAssertFalse(o.isEmpty)
            }
            XCTAssertEqual(try db.scalar("PRAGMA journal_mode")?.string, "delete")
            let header = try readBytes(path)
            XCTAssertEqual(Array(header[18...19]), [1, 1])
            XCTAssertEqual(try db.rows("SELECT usn, oid, type FROM graves ORDER BY oid").count, 2)
        }
        try Schema11.upgrade(atPath: path, nowSecs: 1_796_000_000)
        XCTAssertEqual(Schema11.version(atPath: path), 18)
        try Collection.validateUpload(atPath: path)
        // Compared without what schema 11 cannot carry (template mtime/usn, tag collapse state).
        XCTAssertEqual(try objectRows(path), before)
    }

    func testUpgradeRenamesDuplicatesAndClearsPendingUsns() throws {
        let dir = try makeTempDir(self)
        let path = dir + "/collection.anki2"
        try Collection.createNew(atPath: path, nowMillis: 1_796_000_000_000)
        try Schema11.downgrade(atPath: path)
        do {
            let db = try SQLiteConnection(path: path)
            defer { db.close() }
            // a second deck whose name differs only in case, and pending (-1) rows
            let decksText = try db.scalar("SELECT decks FROM col")?.string ?? ""
            guard case .object(var decks) = try JSON.parse(decksText), case .object(var deck)? = decks.entries.first?.value else {
                return XCTFail("no deck")
            }
            deck["id"] = .int(42)
            deck["name"] = .string("DEFAULT")
            decks.entries.append(("42", .object(deck)))
            try db.run("UPDATE col SET decks = ?, usn = 7", [.text(String(decoding: JSON.serialize(.object(decks)), as: UTF8.self))])
            try db.execute("INSERT INTO graves (usn, oid, type) VALUES (-1, 9, 1), (-1, 9, 1)")
        }
        try Schema11.upgrade(atPath: path, nowSecs: 1_796_000_000)
        let db = try SQLiteConnection(path: path, readOnly: true)
        defer { db.close() }
        let names = try db.rows("SELECT name, usn FROM decks ORDER BY id")
        XCTAssertEqual(names.count, 2)
        XCTAssertEqual(names[1], [.text("DEFAULT_"), .integer(7)])
        XCTAssertEqual(try db.rows("SELECT oid, type, usn FROM graves"), [[.integer(9), .integer(1), .integer(7)]])
    }

    func testUpgradeFromIntermediateVersions() throws {
        for version in [16, 17] {
            let dir = try makeTempDir(self)
            let path = dir + "/collection.anki2"
            try Collection.createNew(atPath: path, nowMillis: 1_796_000_000_000)
            do {
                let db = try SQLiteConnection(path: path)
                defer { db.close() }
                try db.execute("INSERT INTO tags (tag, usn, collapsed, config) VALUES ('alpha', 3, 0, NULL)")
                try db.execute("INSERT INTO graves (oid, type, usn) VALUES (5, 1, 2), (6, 0, -1)")
                try db.execute("ALTER TABLE graves RENAME TO g")
                try db.execute(Schema11.graves11)
                try db.execute("INSERT INTO graves (usn, oid, type) SELECT usn, oid, type FROM g")
                try db.execute("DROP TABLE g")
                if version == 16 {
                    try db.execute("DROP TABLE tags")
                    try db.execute("CREATE TABLE tags (tag text NOT NULL PRIMARY KEY COLLATE unicase, usn integer NOT NULL) WITHOUT ROWID")
                    try db.execute("INSERT INTO tags VALUES ('alpha', 3)")
                }
                try db.run("UPDATE col SET ver = ?", [.integer(Int64(version))])
            }
            try Schema11.upgrade(atPath: path, nowSecs: 1_796_000_000)
            try Collection.validateUpload(atPath: path)
            let db = try SQLiteConnection(path: path, readOnly: true)
            defer { db.close() }
            XCTAssertEqual(try db.rows("SELECT tag, usn FROM tags"), [[.text("alpha"), .integer(3)]], "from \(version)")
            XCTAssertEqual(try db.rows("SELECT oid, type, usn FROM graves ORDER BY oid"),
                           [[.integer(5), .integer(1), .integer(2)], [.integer(6), .integer(0), .integer(0)]], "from \(version)")
        }
    }

    func testUpgradeRefusesOtherVersions() throws {
        let dir = try makeTempDir(self)
        let path = dir + "/c.anki2"
        let db = try SQLiteConnection(path: path, create: true)
        try db.execute("CREATE TABLE col (ver integer)")
        try db.execute("INSERT INTO col VALUES (12)")
        db.close()
        XCTAssertThrowsError(try Schema11.upgrade(atPath: path, nowSecs: 0))
    }
}
