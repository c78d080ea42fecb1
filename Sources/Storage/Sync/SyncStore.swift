import FoundationEssentials

/// The normal-sync engine's SQL on one open collection (PROTOCOL §6, COLLECTION §4).
///
/// Made per request; statements are prepared on first use and reused for every row of the request.
/// Transactions are the caller's (one per sync session, `begin`/`commit`/`rollback`).
public final class SyncStore {
    public let db: SQLiteConnection
    private var statements: [String: SQLiteStatement] = [:]

    public init(_ collection: Collection) {
        self.db = collection.db
    }

    public init(db: SQLiteConnection) {
        self.db = db
    }

    // The per-row statements, held directly (no lookup by SQL text per row).
    private var revlogStmt: SQLiteStatement?
    private var cardStmt: SQLiteStatement?
    private var noteStmt: SQLiteStatement?
    private var mergeRevlogStmt: SQLiteStatement?
    private var proceedCardStmt: SQLiteStatement?
    private var proceedNoteStmt: SQLiteStatement?
    private var insertCardStmt: SQLiteStatement?
    private var insertNoteStmt: SQLiteStatement?

    /// `slot`'s statement, taken from the connection's cache on first use, reset (bindings are all
    /// overwritten by callers).
    @inline(__always)
    private func cached(_ slot: inout SQLiteStatement?, _ sql: String) throws -> SQLiteStatement {
        if let s = slot {
            s.reset()
            return s
        }
        let s = try db.cachedStatement(sql)
        s.reset()
        slot = s
        statements[sql] = s
        return s
    }

    /// A cached prepared statement, reset and with bindings cleared. Statements are the
    /// connection's (prepared once, reused by later requests); this store's are reset when it goes.
    func stmt(_ sql: String) throws -> SQLiteStatement {
        if let s = statements[sql] {
            s.reset()
            s.clearBindings()
            return s
        }
        let s = try db.cachedStatement(sql)
        s.reset()
        s.clearBindings()
        statements[sql] = s
        return s
    }

    deinit {
        // A statement left on a row would keep a read transaction open after the request.
        for s in statements.values { s.reset() }
    }

    // MARK: transaction and col

    /// Page cache for a sync session, in KiB (SQLite's default is 2 MiB; the reference server uses
    /// 40 MiB). A session's changes stay in one transaction: with a small cache, dirty pages spill
    /// into the WAL mid-transaction and are written again, several times over for big syncs.
    static let sessionCacheKiB = 40 * 1024

    public func begin() throws {
        try db.execute("PRAGMA cache_size = -\(Self.sessionCacheKiB)")
        try db.begin(immediate: true)
    }

    public func commit() throws { try db.commit() }

    /// Rolls back if a transaction is open; never throws.
    public func rollback() {
        if db.inTransaction { try? db.rollback() }
    }

    public func usn() throws -> Int64 {
        guard let v = try db.scalar("SELECT usn FROM col")?.int64 else { throw SyncDataError("col.usn missing") }
        return v
    }

    public func crt() throws -> Int64 {
        guard let v = try db.scalar("SELECT crt FROM col")?.int64 else { throw SyncDataError("col.crt missing") }
        return v
    }

    public func setCrt(_ crt: Int64) throws {
        try db.run("UPDATE col SET crt = ?", [.integer(crt)])
    }

    /// `finish`: `ls = mod = nowMillis`, `usn + 1`, inside the session's transaction (then committed).
    public func finish(nowMillis: Int64) throws {
        try db.run("UPDATE col SET ls = ?, mod = ?, usn = usn + 1", [.integer(nowMillis), .integer(nowMillis)])
    }

    // MARK: graves

    public func pendingGraves(minUsn: Int64) throws -> SyncGraves {
        var g = SyncGraves()
        let s = try stmt("SELECT oid, type FROM graves WHERE usn >= ?")
        try s.bind(1, minUsn)
        while try s.step() {
            let oid = s.int64(0)
            switch s.int64(1) {
            case 0: g.cards.append(oid)
            case 1: g.notes.append(oid)
            case 2: g.decks.append(oid)
            default: break
            }
        }
        return g
    }

    /// Deletes the objects and records graves (an existing grave keeps its usn). Deleting a deck
    /// leaves its cards alone: clients send their graves.
    public func applyGraves(_ graves: SyncGraves, usn: Int64) throws {
        let grave = try db.prepare("INSERT OR IGNORE INTO graves (oid, type, usn) VALUES (?, ?, ?)")
        func add(_ oid: Int64, _ type: Int64) throws {
            grave.reset()
            try grave.bind(1, oid)
            try grave.bind(2, type)
            try grave.bind(3, usn)
            try grave.step()
        }
        // Grave kinds: 0 card, 1 note, 2 deck (the table names are constants, not input).
        for (table, ids, kind) in [("notes", graves.notes, Int64(1)), ("cards", graves.cards, 0), ("decks", graves.decks, 2)] {
            let delete = try db.prepare("DELETE FROM \(table) WHERE id = ?")
            for id in ids {
                delete.reset()
                try delete.bind(1, id)
                try delete.step()
                try add(id, kind)
            }
        }
    }

    // MARK: pending ids

    public func pendingIds(table: String, minUsn: Int64) throws -> [Int64] {
        precondition(["revlog", "cards", "notes", "notetypes", "decks", "deck_config"].contains(table))
        let s = try stmt("SELECT id FROM \(table) WHERE usn >= ?")
        try s.bind(1, minUsn)
        var out: [Int64] = []
        while try s.step() { out.append(s.int64(0)) }
        return out
    }

    public func chunkableIds(minUsn: Int64) throws -> ChunkableIds {
        ChunkableIds(revlog: try pendingIds(table: "revlog", minUsn: minUsn),
                     cards: try pendingIds(table: "cards", minUsn: minUsn),
                     notes: try pendingIds(table: "notes", minUsn: minUsn))
    }

    // MARK: reading rows

    public func revlog(_ id: Int64) throws -> SyncRevlog? {
        try row(&revlogStmt, "SELECT id, cid, usn, ease, ivl, lastIvl, factor, time, type FROM revlog WHERE id = ?", id) { s in
            SyncRevlog(id: s.int64(0), cid: s.int64(1), usn: s.int64(2), ease: s.int64(3), ivl: s.int64(4),
                       lastIvl: s.int64(5), factor: s.int64(6), time: s.int64(7), type: s.int64(8))
        }
    }

    public func card(_ id: Int64) throws -> SyncCard? {
        try row(&cardStmt, "SELECT id, nid, did, ord, mod, usn, type, queue, due, ivl, factor, reps, lapses, left, odue, odid, flags, data FROM cards WHERE id = ?", id) { s in
            SyncCard(id: s.int64(0), nid: s.int64(1), did: s.int64(2), ord: s.int64(3), mod: s.int64(4),
                     usn: s.int64(5), type: s.int64(6), queue: s.int64(7), due: s.int64(8), ivl: s.int64(9),
                     factor: s.int64(10), reps: s.int64(11), lapses: s.int64(12), left: s.int64(13),
                     odue: s.int64(14), odid: s.int64(15), flags: s.int64(16), data: s.text(17))
        }
    }

    public func note(_ id: Int64) throws -> SyncNote? {
        try row(&noteStmt, "SELECT id, guid, mid, mod, usn, tags, flds FROM notes WHERE id = ?", id) { s in
            SyncNote(id: s.int64(0), guid: s.text(1), mid: s.int64(2), mod: s.int64(3), usn: s.int64(4), tags: s.text(5), flds: s.text(6))
        }
    }

    /// The row with this id, read by `make` from a cached statement; nil if there is none.
    private func row<T>(_ slot: inout SQLiteStatement?, _ sql: String, _ id: Int64, _ make: (SQLiteStatement) -> T) throws -> T? {
        let s = try cached(&slot, sql)
        try s.bind(1, id)
        guard try s.step() else { return nil }
        return make(s)
    }

    // MARK: merging rows from a client

    /// `INSERT OR IGNORE`: an existing revlog entry is never changed.
    public func mergeRevlog(_ r: SyncRevlog, usn: Int64) throws {
        let s = try cached(&mergeRevlogStmt, "INSERT OR IGNORE INTO revlog (id, cid, usn, ease, ivl, lastIvl, factor, time, type) VALUES (?,?,?,?,?,?,?,?,?)")
        try s.bindIntegers(from: 1, r.id, r.cid, usn, r.ease, r.ivl, r.lastIvl, r.factor, r.time, r.type)
        try s.step()
    }

    /// Whether an incoming row replaces the stored one: absent, not changed on the server since the
    /// client's last sync (`usn < clientUsn`), or strictly newer.
    private func proceed(table: String, id: Int64, mod: Int64, clientUsn: Int64) throws -> Bool {
        let s: SQLiteStatement
        switch table {
        case "cards": s = try cached(&proceedCardStmt, "SELECT usn, mod FROM cards WHERE id = ?")
        case "notes": s = try cached(&proceedNoteStmt, "SELECT usn, mod FROM notes WHERE id = ?")
        default: s = try stmt("SELECT usn, mod FROM \(table) WHERE id = ?")
        }
        try s.bind(1, id)
        guard try s.step() else { return true }
        let usn = s.int64(0), existingMod = s.int64(1)
        s.reset()
        return usn < clientUsn || existingMod < mod
    }

    /// Returns whether the card was written.
    @discardableResult
    public func mergeCard(_ c: SyncCard, clientUsn: Int64, usn: Int64) throws -> Bool {
        // One statement: insert, or overwrite the row when `proceed` would allow it (every column is
        // set, so the stored row is the same as with INSERT OR REPLACE after a check).
        let s = try cached(&insertCardStmt, "INSERT INTO cards (id, nid, did, ord, mod, usn, type, queue, due, ivl, factor, reps, lapses, left, odue, odid, flags, data) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18) ON CONFLICT (id) DO UPDATE SET nid = ?2, did = ?3, ord = ?4, mod = ?5, usn = ?6, type = ?7, queue = ?8, due = ?9, ivl = ?10, factor = ?11, reps = ?12, lapses = ?13, left = ?14, odue = ?15, odid = ?16, flags = ?17, data = ?18 WHERE cards.usn < ?19 OR cards.mod < ?5")
        try s.bindIntegers(from: 1, c.id, c.nid, c.did, c.ord, c.mod, usn, c.type, c.queue, c.due, c.ivl, c.factor, c.reps,
                           c.lapses, c.left, c.odue, c.odid, c.flags)
        try s.bind(18, c.data)
        try s.bind(19, clientUsn)
        try s.step()
        return db.changes > 0
    }

    /// What a note needs from its notetype: field count and sort field index.
    public struct NotetypeShape: Sendable {
        public var fieldCount: Int
        public var sortIndex: Int
    }

    private var shapes: [Int64: NotetypeShape] = [:]

    /// Forget cached notetype shapes (after notetypes were written).
    public func invalidateNotetypeShapes() { shapes.removeAll() }

    public func notetypeShape(_ id: Int64) throws -> NotetypeShape? {
        if let s = shapes[id] { return s }
        let q = try stmt("SELECT config FROM notetypes WHERE id = ?")
        try q.bind(1, id)
        guard try q.step() else { return nil }
        let config = q.blob(0)
        let c = try stmt("SELECT count(*) FROM fields WHERE ntid = ?")
        try c.bind(1, id)
        _ = try c.step()
        let shape = NotetypeShape(fieldCount: Int(c.int64(0)), sortIndex: Int((try? ProtoReader(config).uint32(2)) ?? 0))
        shapes[id] = shape
        return shape
    }

    /// Stores a client's note if it wins (§4.3), with control characters removed and sfld/csum
    /// recomputed. Throws `SyncDataError` for a missing notetype or a wrong field count.
    @discardableResult
    public func mergeNote(_ n: SyncNote, clientUsn: Int64, usn: Int64) throws -> Bool {
        // A note the server keeps is skipped without being checked, so a problem found below is
        // only reported if the note would have been stored.
        func refuse(_ problem: @autoclosure () -> String) throws -> Bool {
            guard try proceed(table: "notes", id: n.id, mod: n.mod, clientUsn: clientUsn) else { return false }
            throw SyncDataError(problem())
        }
        guard let shape = try notetypeShape(n.mid) else {
            return try refuse("note \(n.id) refers to notetype \(n.mid), which does not exist")
        }
        // Works on the UTF-8 bytes: U+001F and the removed ASCII controls are single bytes that never
        // occur inside a multi-byte sequence, and U+001F is always a grapheme of its own, so this is
        // the same as splitting the string on "\u{1f}" and cleaning each field.
        var flds = n.flds
        let prepared = flds.withUTF8 { FieldText.splitFields(UnsafeRawBufferPointer($0)) }
        let expected = max(shape.fieldCount, 1)
        guard prepared.ranges.count == expected else {
            return try refuse("note \(n.id) has \(prepared.ranges.count) fields, its notetype \(n.mid) has \(expected)")
        }
        let cleaned = prepared.cleaned
        func field(_ i: Int) -> String {
            let r = prepared.ranges[i]
            return cleaned.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[r]), as: UTF8.self) }
        }
        let first = FieldText.stripHTMLPreservingMediaFilenames(field(0))
        let csum = FieldText.checksum(first)
        let sfld = shape.sortIndex == 0 ? first
            : (shape.sortIndex < prepared.ranges.count ? FieldText.stripHTMLPreservingMediaFilenames(field(shape.sortIndex)) : "")
        // Insert, or overwrite when `proceed` would allow it (every column set, as by REPLACE).
        let s = try cached(&insertNoteStmt, "INSERT INTO notes (id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,0,'') ON CONFLICT (id) DO UPDATE SET guid = ?2, mid = ?3, mod = ?4, usn = ?5, tags = ?6, flds = ?7, sfld = ?8, csum = ?9, flags = 0, data = '' WHERE notes.usn < ?10 OR notes.mod < ?4")
        try s.bind(1, n.id)
        try s.bind(2, n.guid)
        try s.bind(3, n.mid)
        try s.bind(4, n.mod)
        try s.bind(5, usn)
        try s.bind(6, Self.joinTags(n.tags))
        try s.bindText(7, cleaned)
        try s.bind(8, sfld)
        try s.bind(9, csum)
        try s.bind(10, clientUsn)
        try s.step()
        return db.changes > 0
    }

    /// Split on space / U+3000, empty parts dropped, re-joined as `" a b "` (or `""`).
    static func joinTags(_ tags: String) -> String {
        var t = tags
        if let fast = t.withUTF8({ joinASCIITags($0) }) { return fast }
        let parts = tags.split(whereSeparator: { $0 == " " || $0 == "\u{3000}" })
        return parts.isEmpty ? "" : " " + parts.joined(separator: " ") + " "
    }

    /// `joinTags` for all-ASCII input (where characters are bytes); nil otherwise.
    private static func joinASCIITags(_ b: UnsafeBufferPointer<UInt8>) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(b.count + 2)
        var inWord = false
        for c in b {
            if c >= 0x80 { return nil }
            if c == 0x20 {
                inWord = false
                continue
            }
            if !inWord {
                out.append(0x20)
                inWord = true
            }
            out.append(c)
        }
        if out.isEmpty { return "" }
        out.append(0x20)
        return String(decoding: out, as: UTF8.self)
    }

    /// Cards stamped with `usn` whose note does not exist (an inconsistent client upload).
    public func orphanedCards(usn: Int64, limit: Int = 5) throws -> [Int64] {
        let s = try stmt("SELECT id FROM cards WHERE usn = ? AND NOT EXISTS (SELECT 1 FROM notes WHERE notes.id = cards.nid) LIMIT ?")
        try s.bind(1, usn)
        try s.bind(2, Int64(limit))
        var out: [Int64] = []
        while try s.step() { out.append(s.int64(0)) }
        return out
    }
}
