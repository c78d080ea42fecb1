import FoundationEssentials

/// The sanity check's counts and lookups by name or id.
extension SyncStore {
    // MARK: sanity

    /// The first table holding a row with usn -1, if any.
    public func tableWithPendingUsn() throws -> String? {
        for t in ["cards", "notes", "revlog", "graves", "decks", "deck_config", "tags", "notetypes"] {
            if try db.scalar("SELECT 1 FROM \(t) WHERE usn = -1 LIMIT 1") != nil { return t }
        }
        return nil
    }

    public func sanityCounts() throws -> SanityCounts {
        func count(_ t: String) throws -> Int64 { try db.scalar("SELECT count() FROM \(t)")?.int64 ?? 0 }
        return SanityCounts(cards: try count("cards"), notes: try count("notes"), revlog: try count("revlog"),
                            graves: try count("graves"), notetypes: try count("notetypes"), decks: try count("decks"),
                            deckConfig: try count("deck_config"))
    }

    // MARK: names

    /// The id of the notetype with this name (unicase), if any.
    public func notetypeId(named name: String) throws -> Int64? {
        let s = try stmt("SELECT id FROM notetypes WHERE name = ?")
        try s.bind(1, name)
        return try s.step() ? s.int64(0) : nil
    }

    /// The id of the deck with this native name (unicase), if any.
    public func deckId(named name: String) throws -> Int64? {
        let s = try stmt("SELECT id FROM decks WHERE name = ?")
        try s.bind(1, name)
        return try s.step() ? s.int64(0) : nil
    }

    /// `(mtime_secs, field count, template count)` of a stored notetype.
    public func notetypeSummary(_ id: Int64) throws -> (mtime: Int64, fields: Int, templates: Int)? {
        let s = try stmt("SELECT mtime_secs, (SELECT count() FROM fields WHERE ntid = ?1), (SELECT count() FROM templates WHERE ntid = ?1) FROM notetypes WHERE id = ?1")
        try s.bind(1, id)
        guard try s.step() else { return nil }
        return (s.int64(0), Int(s.int64(1)), Int(s.int64(2)))
    }

    public func mtime(table: String, id: Int64) throws -> Int64? {
        precondition(["decks", "deck_config", "notetypes"].contains(table))
        let s = try stmt("SELECT mtime_secs FROM \(table) WHERE id = ?")
        try s.bind(1, id)
        return try s.step() ? s.int64(0) : nil
    }
}
