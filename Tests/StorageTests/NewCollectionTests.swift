import CSQLite
import Foundation
import XCTest
@testable import Storage

final class NewCollectionTests: XCTestCase {
    private var dir = ""
    private var path = ""

    override func setUpWithError() throws {
        dir = try makeTempDir(self)
        path = dir + "/collection.anki2"
        try Collection.createNew(atPath: path, nowMillis: testNowMillis)
    }

    private func openCol() throws -> Collection {
        let col = try Collection.open(atPath: path)
        addTeardownBlock { col.close() }
        return col
    }

    func testFileHeaderAndNoLeftovers() throws {
        let header = try readBytes(path)
        XCTAssertEqual(Array(header.prefix(16)), Array("SQLite format 3\0".utf8))
        XCTAssertEqual(header[16], 0x10, "page size 4096")
        XCTAssertEqual(header[17], 0x00)
        XCTAssertEqual(header[18], 2, "WAL write version")
        XCTAssertEqual(header[19], 2, "WAL read version")
        XCTAssertEqual(header[56..<60], [0, 0, 0, 1], "UTF-8")
        XCTAssertEqual(header.count % 4096, 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertEqual(files, ["collection.anki2"], "no temp, -wal or -shm files left behind")
    }

    func testCreateRefusesToReplaceExistingFile() throws {
        let before = try readBytes(path)
        XCTAssertThrowsError(try Collection.createNew(atPath: path, nowMillis: testNowMillis + 1)) { error in
            XCTAssertEqual(error as? CollectionError, .alreadyExists(path: path))
        }
        XCTAssertEqual(try readBytes(path), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["collection.anki2"])
    }

    func testColRow() throws {
        let col = try openCol()
        let rows = try col.db.rows("SELECT id, crt, mod, scm, ver, dty, usn, ls, conf, models, decks, dconf, tags FROM col")
        XCTAssertEqual(rows.count, 1)
        let crt = Collection.creationDayStart(nowMillis: testNowMillis)
        XCTAssertEqual(rows[0], [
            .integer(1), .integer(crt), .integer(0), .integer(testNowMillis), .integer(18), .integer(0),
            .integer(0), .integer(0), .text(""), .text(""), .text(""), .text(""), .text(""),
        ])
        // crt is a local 04:00 at most one day before creation.
        XCTAssertLessThanOrEqual(crt, testNowMillis / 1000)
        XCTAssertGreaterThan(crt, testNowMillis / 1000 - 86_400 - 3600)
    }

    func testMetaOfFreshCollection() throws {
        let col = try openCol()
        XCTAssertEqual(try col.meta(), CollectionMeta(mod: 0, scm: testNowMillis, usn: 0, isEmpty: true))
        try col.db.run("INSERT INTO cards VALUES (1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, '{}')")
        XCTAssertFalse(try col.meta().isEmpty)
    }

    func testDeckAndDeckConfigRows() throws {
        let col = try openCol()
        XCTAssertEqual(try col.db.rows("SELECT id, name, mtime_secs, usn, config FROM deck_config"),
                       [[.integer(1), .text("Default"), .integer(0), .integer(0), .blob(DefaultObjects.deckConfigBlob())]])
        XCTAssertEqual(try col.db.rows("SELECT id, name, mtime_secs, usn, common, kind FROM decks"),
                       [[.integer(1), .text("Default"), .integer(0), .integer(0),
                         .blob([0x08, 0x01, 0x10, 0x01]), .blob([0x0a, 0x02, 0x08, 0x01])]])
    }

    func testBasicNotetypeRows() throws {
        let col = try openCol()
        let nt = try col.db.rows("SELECT id, name, mtime_secs, usn FROM notetypes")
        XCTAssertEqual(nt, [[.integer(testNowMillis), .text("Basic"), .integer(0), .integer(0)]])
        let fields = try col.db.rows("SELECT ntid, ord, name, config FROM fields ORDER BY ord")
        XCTAssertEqual(fields.map { $0[0] }, [.integer(testNowMillis), .integer(testNowMillis)])
        XCTAssertEqual(fields.map { $0[1] }, [.integer(0), .integer(1)])
        XCTAssertEqual(fields.map { $0[2] }, [.text("Front"), .text("Back")])
        let fieldBlobs = fields.compactMap { $0[3].bytes }
        XCTAssertEqual(fieldBlobs.count, 2)
        XCTAssertNotEqual(fieldBlobs[0], fieldBlobs[1], "each field has its own random id")
        for blob in fieldBlobs { XCTAssertEqual(Array(blob.prefix(10)), [0x1a, 0x05] + Array("Arial".utf8) + [0x20, 0x14, 0x48]) }

        let templates = try col.db.rows("SELECT ntid, ord, name, mtime_secs, usn, config FROM templates")
        XCTAssertEqual(templates.count, 1)
        XCTAssertEqual(Array(templates[0].prefix(5)),
                       [.integer(testNowMillis), .integer(0), .text("Card 1"), .integer(0), .integer(0)])
        let tmpl = templates[0][5].bytes ?? []
        let text = String(decoding: tmpl, as: UTF8.self)
        XCTAssertTrue(text.contains("{{Front}}") && text.contains("{{Back}}") && text.contains("{{FrontSide}}"))
    }

    func testConfigKeys() throws {
        let col = try openCol()
        let rows = try col.db.rows("SELECT KEY, usn, mtime_secs, val, typeof(val) FROM config ORDER BY KEY")
        var values: [String: String] = [:]
        for row in rows {
            XCTAssertEqual(row[4], .text("blob"), "config \(row[0]) must be a BLOB")
            XCTAssertEqual(row[1], .integer(0))
            let key = row[0].string ?? "?"
            XCTAssertEqual(row[2], .integer(key == "curModel" ? testNowMillis / 1000 : 0))
            values[key] = String(decoding: row[3].bytes ?? [], as: UTF8.self)
        }
        XCTAssertEqual(values, [
            "activeDecks": "[1]", "addToCur": "true", "collapseTime": "1200", "creationOffset": "null",
            "curDeck": "1", "curModel": "\(testNowMillis)", "dayLearnFirst": "false", "dueCounts": "true",
            "estTimes": "true", "newSpread": "0", "nextPos": "1", "sched2021": "true", "schedVer": "2",
            "sortBackwards": "false", "sortType": "\"noteFld\"", "timeLim": "0",
        ])
        for json in values.values {
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(json.utf8), options: .fragmentsAllowed))
        }
    }

    func testBlobColumnsAreBlobs() throws {
        let col = try openCol()
        let checks = [
            "SELECT count(*) FROM deck_config WHERE typeof(config) != 'blob'",
            "SELECT count(*) FROM decks WHERE typeof(common) != 'blob' OR typeof(kind) != 'blob'",
            "SELECT count(*) FROM notetypes WHERE typeof(config) != 'blob'",
            "SELECT count(*) FROM fields WHERE typeof(config) != 'blob'",
            "SELECT count(*) FROM templates WHERE typeof(config) != 'blob'",
            "SELECT count(*) FROM config WHERE typeof(val) != 'blob'",
        ]
        for sql in checks { XCTAssertEqual(try col.db.scalar(sql), .integer(0), sql) }
    }

    func testNoPendingUsnAnywhere() throws {
        let col = try openCol()
        for table in ["col", "notes", "cards", "revlog", "graves", "decks", "deck_config", "notetypes",
                      "templates", "config", "tags"] {
            XCTAssertEqual(try col.db.scalar("SELECT count(*) FROM \(table) WHERE usn != 0"), .integer(0), table)
        }
        for table in ["notes", "cards", "revlog", "graves", "tags"] {
            XCTAssertEqual(try col.db.scalar("SELECT count(*) FROM \(table)"), .integer(0), table)
        }
    }

    func testIntegrityCheck() throws {
        let col = try openCol()
        XCTAssertEqual(try col.db.rows("PRAGMA integrity_check"), [[.text("ok")]])
        XCTAssertEqual(try col.db.scalar("PRAGMA page_size"), .integer(4096))
        XCTAssertEqual(try col.db.scalar("PRAGMA journal_mode"), .text("wal"))
        XCTAssertEqual(try col.db.scalar("PRAGMA user_version"), .integer(0))
        XCTAssertEqual(try col.db.scalar("PRAGMA auto_vacuum"), .integer(0))
    }

    func testTableColumnsInOrder() throws {
        let col = try openCol()
        let expected: [String: [String]] = [
            "col": ["id integer", "crt integer", "mod integer", "scm integer", "ver integer", "dty integer",
                    "usn integer", "ls integer", "conf text", "models text", "decks text", "dconf text", "tags text"],
            "notes": ["id integer", "guid text", "mid integer", "mod integer", "usn integer", "tags text",
                      "flds text", "sfld integer", "csum integer", "flags integer", "data text"],
            "cards": ["id", "nid", "did", "ord", "mod", "usn", "type", "queue", "due", "ivl", "factor", "reps",
                      "lapses", "left", "odue", "odid", "flags"].map { "\($0) integer" } + ["data text"],
            "revlog": ["id", "cid", "usn", "ease", "ivl", "lastIvl", "factor", "time", "type"].map { "\($0) integer" },
            "graves": ["oid integer", "type integer", "usn integer"],
            "deck_config": ["id integer", "name text", "mtime_secs integer", "usn integer", "config blob"],
            "config": ["KEY text", "usn integer", "mtime_secs integer", "val blob"],
            "fields": ["ntid integer", "ord integer", "name text", "config blob"],
            "templates": ["ntid integer", "ord integer", "name text", "mtime_secs integer", "usn integer", "config blob"],
            "notetypes": ["id integer", "name text", "mtime_secs integer", "usn integer", "config blob"],
            "decks": ["id integer", "name text", "mtime_secs integer", "usn integer", "common blob", "kind blob"],
            "tags": ["tag text", "usn integer", "collapsed boolean", "config blob"],
        ]
        let tables = try col.db.rows("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").compactMap { $0[0].string }
        XCTAssertEqual(Set(tables), Set(expected.keys))
        for (table, columns) in expected {
            let info = try col.db.rows("PRAGMA table_info(\(table))")
            let got = info.map { "\($0[1].string ?? "") \(($0[2].string ?? "").lowercased())" }
            XCTAssertEqual(got, columns, table)
            let nullable = info.filter { $0[3] == .integer(0) }.compactMap { $0[1].string }
            XCTAssertEqual(nullable, table == "tags" ? ["config"] : (table == "col" ? ["id"] : (["notes", "cards", "revlog"].contains(table) ? ["id"] : [])), table)
        }
        for table in ["graves", "config", "fields", "templates", "tags"] {
            let sql = try col.db.scalar("SELECT sql FROM sqlite_master WHERE name = ?", [.text(table)])?.string ?? ""
            XCTAssertTrue(sql.uppercased().hasSuffix("WITHOUT ROWID"), table)
        }
        for (table, column) in [("deck_config", "name"), ("fields", "name"), ("templates", "name"),
                                ("notetypes", "name"), ("decks", "name"), ("tags", "tag")] {
            let sql = try col.db.scalar("SELECT sql FROM sqlite_master WHERE name = ?", [.text(table)])?.string ?? ""
            XCTAssertTrue(sql.contains("\(column) text NOT NULL") && sql.contains("COLLATE unicase"), table)
        }
    }

    func testIndexes() throws {
        let col = try openCol()
        let rows = try col.db.rows("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        var byName: [String: (table: String, sql: String)] = [:]
        for r in rows { byName[r[0].string ?? ""] = (r[1].string ?? "", r[2].string ?? "") }
        let expected: [String: (String, [String], Bool)] = [
            "ix_notes_usn": ("notes", ["usn"], false), "ix_cards_usn": ("cards", ["usn"], false),
            "ix_revlog_usn": ("revlog", ["usn"], false), "ix_cards_nid": ("cards", ["nid"], false),
            "ix_cards_sched": ("cards", ["did", "queue", "due"], false), "ix_revlog_cid": ("revlog", ["cid"], false),
            "ix_notes_csum": ("notes", ["csum"], false), "idx_fields_name_ntid": ("fields", ["name", "ntid"], true),
            "idx_templates_name_ntid": ("templates", ["name", "ntid"], true),
            "idx_templates_usn": ("templates", ["usn"], false), "idx_notetypes_name": ("notetypes", ["name"], true),
            "idx_notetypes_usn": ("notetypes", ["usn"], false), "idx_decks_name": ("decks", ["name"], true),
            "idx_notes_mid": ("notes", ["mid"], false), "idx_cards_odid": ("cards", ["odid"], false),
            "idx_graves_pending": ("graves", ["usn"], false),
        ]
        XCTAssertEqual(Set(byName.keys), Set(expected.keys))
        for (name, (table, columns, unique)) in expected {
            XCTAssertEqual(byName[name]?.table, table, name)
            let cols = try col.db.rows("PRAGMA index_info(\(name))").compactMap { $0[2].string }
            XCTAssertEqual(cols, columns, name)
            let list = try col.db.rows("PRAGMA index_list(\(table))").first { $0[1] == .text(name) }
            XCTAssertEqual(list?[2], .integer(unique ? 1 : 0), name)
        }
        XCTAssertTrue(byName["idx_cards_odid"]?.sql.hasSuffix("WHERE odid != 0") ?? false)
        // Name indexes inherit the column's unicase collation.
        let xinfo = try col.db.rows("PRAGMA index_xinfo(idx_decks_name)")
        XCTAssertEqual(xinfo.first?[4], .text("unicase"))
    }

    func testUnicaseUniqueDeckName() throws {
        let col = try openCol()
        XCTAssertThrowsError(try col.db.run(
            "INSERT INTO decks VALUES (2, 'DEFAULT', 0, 0, x'', x'')")) { error in
            XCTAssertEqual((error as? SQLiteError)?.primaryCode, SQLITE_CONSTRAINT)
        }
        XCTAssertEqual(try col.db.scalar("SELECT id FROM decks WHERE name = 'default'"), .integer(1))
    }

    func testCreationDayStart() throws {
        let utc = TimeZone(identifier: "UTC")!
        // 2024-01-02 03:00 UTC -> 2024-01-01 04:00 UTC; 2024-01-02 05:00 -> 2024-01-02 04:00.
        XCTAssertEqual(Collection.creationDayStart(nowMillis: 1_704_164_400_000, timeZone: utc), 1_704_081_600)
        XCTAssertEqual(Collection.creationDayStart(nowMillis: 1_704_171_600_000, timeZone: utc), 1_704_168_000)
        XCTAssertEqual(Collection.creationDayStart(nowMillis: 1_704_168_000_000, timeZone: utc), 1_704_168_000)
        // UTC+9: 2024-01-02 01:00 UTC is 10:00 local -> 04:00 local = 2024-01-01 19:00 UTC.
        let tokyo = TimeZone(identifier: "Asia/Tokyo")!
        XCTAssertEqual(Collection.creationDayStart(nowMillis: 1_704_157_200_000, timeZone: tokyo), 1_704_135_600)
    }

    func testCreateInMissingDirectoryFailsCleanly() throws {
        XCTAssertThrowsError(try Collection.createNew(atPath: dir + "/missing/collection.anki2", nowMillis: testNowMillis))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/missing"))
    }
}
