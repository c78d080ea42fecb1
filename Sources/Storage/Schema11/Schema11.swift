import Shared

/// Schema 11 ⇄ 18 (COLLECTION.md §6): what sync protocol versions 8–10 exchange on full sync.
/// Both directions rewrite a file in place; callers use them on temporary copies only.
public enum Schema11 {
    public struct Failure: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { reason }
    }

    /// The `col.ver` of a collection file (nil if it has no readable `col`).
    public static func version(atPath path: String) -> Int64? {
        guard let db = try? SQLiteConnection(path: path, readOnly: true) else { return nil }
        defer { db.close() }
        return (try? db.scalar("SELECT ver FROM col"))??.int64
    }

    /// Tables and indexes of schema 18 that schema 11 keeps as JSON in `col` (or lacks).
    static let objectTables = ["config", "deck_config", "tags", "fields", "templates", "notetypes", "decks"]
    static let newIndexes = ["idx_cards_odid", "idx_notes_mid"]

    static let graves11 = "CREATE TABLE graves (usn integer NOT NULL, oid integer NOT NULL, type integer NOT NULL)"

    // MARK: downgrade

    /// Rewrites a schema-18 file as schema 11: objects become the JSON maps in `col`, the
    /// schema-18 tables go, `graves` gets its old rowid layout, journal mode `delete`.
    /// `mod`, `scm` and `usn` are left alone.
    public static func downgrade(atPath path: String) throws {
        let db = try SQLiteConnection(path: path)
        defer { db.close() }
        guard try db.scalar("SELECT ver FROM col")?.int64 == Schema.version else {
            throw Failure(reason: "downgrade expects a schema-18 file")
        }
        try db.transaction(immediate: true) {
            // Read everything first: the cached statements are finalized before tables are dropped.
            let (conf, models, decks, dconf, tags) = try readObjects(db)
            try db.execute("ALTER TABLE graves RENAME TO graves_old")
            try db.execute(graves11)
            try db.execute("INSERT INTO graves (usn, oid, type) SELECT usn, oid, type FROM graves_old")
            try db.execute("DROP TABLE graves_old")

            func text(_ o: JSONObject) -> SQLiteValue { .text(String(decoding: JSON.serialize(.object(o)), as: UTF8.self)) }
            try db.run("UPDATE col SET conf = ?, models = ?, decks = ?, dconf = ?, tags = ?, ver = 11",
                       [text(conf), text(models), text(decks), text(dconf), text(tags)])
            for table in objectTables { try db.execute("DROP TABLE IF EXISTS \(table)") }
            for index in newIndexes { try db.execute("DROP INDEX IF EXISTS \(index)") }
        }
        try db.execute("PRAGMA journal_mode = delete")
    }

    static func readObjects(_ db: SQLiteConnection) throws
        -> (conf: JSONObject, models: JSONObject, decks: JSONObject, dconf: JSONObject, tags: JSONObject) {
        let store = SyncStore(db: db)
        var dconf = JSONObject()
        for row in try db.rows("SELECT id FROM deck_config ORDER BY id") {
            guard let id = row[0].int64, let c = try store.deckConfigRow(id) else { continue }
            dconf.entries.append((String(id), try DeckConfigCodec.schema11(from: c)))
        }
        var decks = JSONObject()
        for row in try db.rows("SELECT id FROM decks ORDER BY id") {
            guard let id = row[0].int64, let d = try store.deckRow(id) else { continue }
            decks.entries.append((String(id), try DeckCodec.schema11(from: d)))
        }
        var models = JSONObject()
        for row in try db.rows("SELECT id FROM notetypes ORDER BY id") {
            guard let id = row[0].int64, let nt = try store.notetypeRow(id) else { continue }
            models.entries.append((String(id), try NotetypeCodec.schema11(from: nt)))
        }
        var conf = JSONObject()
        for (key, value) in try store.allConfig() {
            guard let v = try? JSON.parse(value) else { continue }
            conf.entries.append((key, v))
        }
        var tags = JSONObject()
        for row in try db.rows("SELECT tag, usn FROM tags ORDER BY tag") {
            guard let tag = row[0].string, let usn = row[1].int64 else { continue }
            tags.entries.append((tag, .int(usn)))
        }

        return (conf, models, decks, dconf, tags)
    }

    // MARK: upgrade

    /// Rewrites a schema-11 file as schema 18 (the server's side of a legacy full upload).
    /// Objects the conversion has to change (renamed duplicates, a notetype without an id) get
    /// the collection's current usn, and no row is left with usn −1, which would read as
    /// "pending" on the server.
    public static func upgrade(atPath path: String, nowSecs: Int64) throws {
        let db = try SQLiteConnection(path: path)
        defer { db.close() }
        let ver = try db.scalar("SELECT ver FROM col")?.int64
        if ver == Schema.version { return }
        guard let ver, [11, 16, 17].contains(ver) else {
            throw Failure(reason: "schema version \(ver.map(String.init) ?? "?") cannot be upgraded (expected 11, 16, 17 or 18)")
        }
        try db.transaction(immediate: true) {
            guard let usn = try db.scalar("SELECT usn FROM col")?.int64 else { throw Failure(reason: "col has no usn") }
            // Table rebuilds first: DROP TABLE fails while cached statements are open.
            try db.execute("ALTER TABLE graves RENAME TO graves_old")
            for sql in Schema.statements where sql.contains("TABLE graves") || sql.contains("idx_graves_pending") { try db.execute(sql) }
            try db.execute("INSERT OR IGNORE INTO graves (oid, type, usn) SELECT oid, type, usn FROM graves_old")
            try db.execute("DROP TABLE graves_old")
            if ver == 16 {
                // 16 → 17: tags gain their collapse state and config.
                try db.execute("ALTER TABLE tags RENAME TO tags_old")
                for sql in Schema.statements where sql.hasPrefix("CREATE TABLE tags (") { try db.execute(sql) }
                try db.execute("INSERT OR IGNORE INTO tags (tag, usn, collapsed, config) SELECT tag, usn, 1, NULL FROM tags_old")
                try db.execute("DROP TABLE tags_old")
            }
            if ver == 11 { try upgradeObjects(db, usn: usn, nowSecs: nowSecs) }
            try db.run("UPDATE col SET ver = ?", [.integer(Schema.version)])
            for table in ["notes", "cards", "revlog", "graves", "decks", "deck_config", "notetypes", "templates", "tags", "config"] {
                try db.run("UPDATE \(table) SET usn = ? WHERE usn = -1", [.integer(usn)])
            }
        }
        try db.execute("PRAGMA journal_mode = WAL")
    }

    /// 11 → 15: the JSON maps of `col` become tables (with 16's deck-config repair built in,
    /// since the codec stores the final form directly).
    static func upgradeObjects(_ db: SQLiteConnection, usn: Int64, nowSecs: Int64) throws {
        let rows = try db.rows("SELECT conf, models, decks, dconf, tags FROM col")
        guard rows.count == 1 else { throw Failure(reason: "col must hold exactly one row") }
        func json(_ i: Int, _ what: String) throws -> JSONObject {
            let raw: [UInt8]
            switch rows[0][i] {
            case .text(let s): raw = Array(s.utf8)
            case .blob(let b): raw = b
            default: raw = []
            }
            if raw.isEmpty { return JSONObject() }
            guard case .object(let o) = try JSON.parse(raw) else { throw Failure(reason: "col.\(what) is not a JSON object") }
            return o
        }
        let conf = try json(0, "conf"), models = try json(1, "models"), decks = try json(2, "decks")
        let dconf = try json(3, "dconf"), tags = try json(4, "tags")
        for sql in Schema.statements where createsObjectTable(sql) { try db.execute(sql) }
        let store = SyncStore(db: db)
        for (key, value) in dconf.entries {
            var object = value.object ?? JSONObject()
            if let id = Int64(key) { object["id"] = .int(id) }    // the map key wins over the inner id
            try store.writeDeckConfig(try DeckConfigCodec.row(fromSchema11: .object(object)))
        }
        let insertConfig = try db.prepare("INSERT OR REPLACE INTO config (KEY, usn, mtime_secs, val) VALUES (?, 0, 0, ?)")
        for (key, value) in conf.entries {
            insertConfig.reset()
            try insertConfig.bind(1, key)
            try insertConfig.bind(2, JSON.serialize(value))
            _ = try insertConfig.step()
        }
        let insertTag = try db.prepare("INSERT OR IGNORE INTO tags (tag, usn, collapsed, config) VALUES (?, ?, 1, NULL)")
        for (tag, value) in tags.entries {
            insertTag.reset()
            try insertTag.bind(1, tag)
            try insertTag.bind(2, value.int64 ?? 0)
            _ = try insertTag.step()
        }
        // Appends "_" to a name another row of `table` already has; true if it did.
        func madeUnique(_ name: inout String, in table: String, id: Int64) throws -> Bool {
            let before = name
            while try db.scalar("SELECT 1 FROM \(table) WHERE name = ? AND id != ?", [.text(name), .integer(id)]) != nil {
                name += "_"
            }
            return name != before
        }
        for (_, value) in models.entries {
            var nt = try NotetypeCodec.row(fromSchema11: value)
            let newId = nt.id == 0
            if newId { nt.id = Int64(UInt32.random(in: 1...UInt32(Int32.max))) }
            if try madeUnique(&nt.name, in: "notetypes", id: nt.id) || newId { (nt.usn, nt.mtimeSecs) = (usn, nowSecs) }
            try store.writeNotetype(nt)
        }
        for (_, value) in decks.entries {
            var deck = try DeckCodec.row(fromSchema11: value)
            if try madeUnique(&deck.name, in: "decks", id: deck.id) { (deck.usn, deck.mtimeSecs) = (usn, nowSecs) }
            try store.writeDeck(deck)
        }
        try db.run("UPDATE col SET conf = '', models = '', decks = '', dconf = '', tags = ''")
    }

    /// Statements of the schema-18 layout for what schema 11 lacks (not the four core tables,
    /// their `ix_` indexes, or graves, which is rebuilt separately).
    static func createsObjectTable(_ sql: String) -> Bool {
        for table in ["col", "notes", "cards", "revlog", "graves"] where sql.hasPrefix("CREATE TABLE \(table) (") { return false }
        if sql.hasPrefix("CREATE INDEX ix_") || sql.contains("idx_graves_pending") { return false }
        return true
    }
}
