/// Notetypes, decks and deck configs as rows (the JSON side is the codecs' job).
extension SyncStore {
    // MARK: notetypes

    public func notetypeRow(_ id: Int64) throws -> NotetypeRow? {
        let s = try stmt("SELECT id, name, mtime_secs, usn, config FROM notetypes WHERE id = ?")
        try s.bind(1, id)
        guard try s.step() else { return nil }
        let (nid, name, mtime, usn, config) = (s.int64(0), s.text(1), s.int64(2), s.int64(3), s.blob(4))
        var fields: [FieldRow] = []
        let f = try stmt("SELECT ord, name, config FROM fields WHERE ntid = ? ORDER BY ord")
        try f.bind(1, id)
        while try f.step() { fields.append(FieldRow(ord: f.int64(0), name: f.text(1), config: f.blob(2))) }
        var templates: [TemplateRow] = []
        let t = try stmt("SELECT ord, name, mtime_secs, usn, config FROM templates WHERE ntid = ? ORDER BY ord")
        try t.bind(1, id)
        while try t.step() {
            templates.append(TemplateRow(ord: t.int64(0), name: t.text(1), mtimeSecs: t.int64(2), usn: t.int64(3), config: t.blob(4)))
        }
        return NotetypeRow(id: nid, name: name, mtimeSecs: mtime, usn: usn, config: config, fields: fields, templates: templates)
    }

    /// Writes the notetype with its fields and templates (replacing the old ones; ords from position).
    public func writeNotetype(_ nt: NotetypeRow) throws {
        try write("INSERT OR REPLACE INTO notetypes (id, name, mtime_secs, usn, config) VALUES (?, ?, ?, ?, ?)",
                  [.integer(nt.id), .text(nt.name), .integer(nt.mtimeSecs), .integer(nt.usn), .blob(nt.config)])
        try write("DELETE FROM fields WHERE ntid = ?", [.integer(nt.id)])
        for (ord, field) in nt.fields.enumerated() {
            try write("INSERT INTO fields (ntid, ord, name, config) VALUES (?, ?, ?, ?)",
                      [.integer(nt.id), .integer(Int64(ord)), .text(field.name), .blob(field.config)])
        }
        try write("DELETE FROM templates WHERE ntid = ?", [.integer(nt.id)])
        for (ord, t) in nt.templates.enumerated() {
            try write("INSERT INTO templates (ntid, ord, name, mtime_secs, usn, config) VALUES (?, ?, ?, ?, ?, ?)",
                      [.integer(nt.id), .integer(Int64(ord)), .text(t.name), .integer(t.mtimeSecs), .integer(t.usn), .blob(t.config)])
        }
        invalidateNotetypeShapes()
    }

    // MARK: decks

    public func deckRow(_ id: Int64) throws -> DeckRow? {
        let s = try stmt("SELECT id, name, mtime_secs, usn, common, kind FROM decks WHERE id = ?")
        try s.bind(1, id)
        guard try s.step() else { return nil }
        return DeckRow(id: s.int64(0), name: s.text(1), mtimeSecs: s.int64(2), usn: s.int64(3), common: s.blob(4), kind: s.blob(5))
    }

    public func writeDeck(_ d: DeckRow) throws {
        try write("INSERT OR REPLACE INTO decks (id, name, mtime_secs, usn, common, kind) VALUES (?, ?, ?, ?, ?, ?)",
                  [.integer(d.id), .text(d.name), .integer(d.mtimeSecs), .integer(d.usn), .blob(d.common), .blob(d.kind)])
    }

    // MARK: deck configs

    public func deckConfigRow(_ id: Int64) throws -> DeckConfigRow? {
        let s = try stmt("SELECT id, name, mtime_secs, usn, config FROM deck_config WHERE id = ?")
        try s.bind(1, id)
        guard try s.step() else { return nil }
        return DeckConfigRow(id: s.int64(0), name: s.text(1), mtimeSecs: s.int64(2), usn: s.int64(3), config: s.blob(4))
    }

    public func writeDeckConfig(_ c: DeckConfigRow) throws {
        try write("INSERT OR REPLACE INTO deck_config (id, name, mtime_secs, usn, config) VALUES (?, ?, ?, ?, ?)",
                  [.integer(c.id), .text(c.name), .integer(c.mtimeSecs), .integer(c.usn), .blob(c.config)])
    }

    /// Runs a cached write statement with `values` bound to its parameters 1...n.
    private func write(_ sql: String, _ values: [SQLiteValue]) throws {
        let s = try stmt(sql)
        try s.bind(values)
        try s.step()
    }
}
