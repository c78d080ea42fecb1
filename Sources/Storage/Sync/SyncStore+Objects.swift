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
        let s = try stmt("INSERT OR REPLACE INTO notetypes (id, name, mtime_secs, usn, config) VALUES (?, ?, ?, ?, ?)")
        try s.bind(1, nt.id)
        try s.bind(2, nt.name)
        try s.bind(3, nt.mtimeSecs)
        try s.bind(4, nt.usn)
        try s.bind(5, nt.config)
        try s.step()
        let df = try stmt("DELETE FROM fields WHERE ntid = ?")
        try df.bind(1, nt.id)
        try df.step()
        let f = try stmt("INSERT INTO fields (ntid, ord, name, config) VALUES (?, ?, ?, ?)")
        for (ord, field) in nt.fields.enumerated() {
            f.reset()
            try f.bind(1, nt.id)
            try f.bind(2, Int64(ord))
            try f.bind(3, field.name)
            try f.bind(4, field.config)
            try f.step()
        }
        let dt = try stmt("DELETE FROM templates WHERE ntid = ?")
        try dt.bind(1, nt.id)
        try dt.step()
        let t = try stmt("INSERT INTO templates (ntid, ord, name, mtime_secs, usn, config) VALUES (?, ?, ?, ?, ?, ?)")
        for (ord, template) in nt.templates.enumerated() {
            t.reset()
            try t.bind(1, nt.id)
            try t.bind(2, Int64(ord))
            try t.bind(3, template.name)
            try t.bind(4, template.mtimeSecs)
            try t.bind(5, template.usn)
            try t.bind(6, template.config)
            try t.step()
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
        let s = try stmt("INSERT OR REPLACE INTO decks (id, name, mtime_secs, usn, common, kind) VALUES (?, ?, ?, ?, ?, ?)")
        try s.bind(1, d.id)
        try s.bind(2, d.name)
        try s.bind(3, d.mtimeSecs)
        try s.bind(4, d.usn)
        try s.bind(5, d.common)
        try s.bind(6, d.kind)
        try s.step()
    }

    // MARK: deck configs

    public func deckConfigRow(_ id: Int64) throws -> DeckConfigRow? {
        let s = try stmt("SELECT id, name, mtime_secs, usn, config FROM deck_config WHERE id = ?")
        try s.bind(1, id)
        guard try s.step() else { return nil }
        return DeckConfigRow(id: s.int64(0), name: s.text(1), mtimeSecs: s.int64(2), usn: s.int64(3), config: s.blob(4))
    }

    public func writeDeckConfig(_ c: DeckConfigRow) throws {
        let s = try stmt("INSERT OR REPLACE INTO deck_config (id, name, mtime_secs, usn, config) VALUES (?, ?, ?, ?, ?)")
        try s.bind(1, c.id)
        try s.bind(2, c.name)
        try s.bind(3, c.mtimeSecs)
        try s.bind(4, c.usn)
        try s.bind(5, c.config)
        try s.step()
    }
}
