import FoundationEssentials

/// Normal sync's config entries and tags.
extension SyncStore {
    // MARK: config

    /// Every config row: key and JSON bytes.
    public func allConfig() throws -> [(key: String, value: [UInt8])] {
        let s = try stmt("SELECT KEY, val FROM config")
        var out: [(key: String, value: [UInt8])] = []
        while try s.step() { out.append((s.text(0), s.blob(1))) }
        return out
    }

    /// Sending the config map resets every row's usn to 0 (as the reference does).
    public func clearConfigUsns() throws {
        try db.run("UPDATE config SET usn = 0")
    }

    /// Replaces the whole map (values are compact JSON bytes, stored as BLOB).
    public func replaceConfig(_ entries: [(key: String, value: [UInt8])], usn: Int64, mtimeSecs: Int64) throws {
        try db.run("DELETE FROM config")
        let s = try db.prepare("INSERT OR REPLACE INTO config (KEY, usn, mtime_secs, val) VALUES (?, ?, ?, ?)")
        for e in entries {
            s.reset()
            try s.bind(1, e.key)
            try s.bind(2, usn)
            try s.bind(3, mtimeSecs)
            try s.bind(4, e.value)
            try s.step()
        }
    }

    public func config(_ key: String) throws -> [UInt8]? {
        let s = try stmt("SELECT val FROM config WHERE KEY = ?")
        try s.bind(1, key)
        return try s.step() ? s.blob(0) : nil
    }

    public func setConfig(_ key: String, _ value: [UInt8], usn: Int64, mtimeSecs: Int64) throws {
        let s = try stmt("INSERT OR REPLACE INTO config (KEY, usn, mtime_secs, val) VALUES (?, ?, ?, ?)")
        try s.bind(1, key)
        try s.bind(2, usn)
        try s.bind(3, mtimeSecs)
        try s.bind(4, value)
        try s.step()
    }

    // MARK: tags

    public func pendingTags(minUsn: Int64) throws -> [String] {
        let s = try stmt("SELECT tag FROM tags WHERE usn >= ?")
        try s.bind(1, minUsn)
        var out: [String] = []
        while try s.step() { out.append(s.text(0)) }
        return out
    }

    /// Registers a tag name from a client (COLLECTION §3.5): normalised; nothing written if a tag
    /// equal under unicase exists; otherwise the case of the nearest existing parent is adopted.
    public func registerTag(_ raw: String, usn: Int64) throws {
        let name = try Self.normalizeTagName(raw)
        let find = try stmt("SELECT tag FROM tags WHERE tag = ?")
        try find.bind(1, name)
        if try find.step() { return }
        var final = name
        var comps = name.components(separatedBy: "::")
        while comps.count > 1 {
            comps.removeLast()
            let parent = comps.joined(separator: "::")
            let p = try stmt("SELECT tag FROM tags WHERE tag = ?")
            try p.bind(1, parent)
            if try p.step() {
                let existing = p.text(0)
                let all = name.components(separatedBy: "::")
                let parentCount = existing.components(separatedBy: "::").count
                final = existing + "::" + all[parentCount...].joined(separator: "::")
                break
            }
        }
        let ins = try stmt("INSERT OR REPLACE INTO tags (tag, usn, collapsed) VALUES (?, ?, ?)")
        try ins.bind(1, final)
        try ins.bind(2, usn)
        try ins.bind(3, Int64(1))
        try ins.step()
    }

    static func normalizeTagName(_ name: String) throws -> String {
        let comps = name.components(separatedBy: "::").map { comp -> String in
            var c = comp.nfc
            c = String(String.UnicodeScalarView(c.unicodeScalars.filter {
                !($0.value < 0x20 || $0.value == 0x7f || $0 == " " || $0 == "\u{3000}")
            }))
            let trimmed = c.trimmingUnicodeWhitespace
            return trimmed.isEmpty ? "blank" : trimmed
        }
        let out = comps.joined(separator: "::")
        if out.isEmpty { throw SyncDataError("blank tag") }
        return out
    }
}
