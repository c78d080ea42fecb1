import CSQLite

extension SQLiteConnection {
    /// Every connection treats its file as untrusted: defensive mode (no writable schema, no
    /// journal_mode=OFF, no shadow-table writes), schema code (views, triggers, defaults) may not call
    /// functions with side effects, no extension loading, and temporary tables and sorts stay in
    /// memory (the worker's sandbox lets it write nowhere but its folder). Returns a problem or nil.
    static func harden(_ db: OpaquePointer) -> String? {
        let settings: [(Int32, Int32, String)] = [
            (SQLITE_DBCONFIG_DEFENSIVE, 1, "defensive"),
            (SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, "trusted_schema"),
            (SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, "load_extension"),
        ]
        for (op, value, name) in settings where csqlite_db_config_flag(db, op, value) != SQLITE_OK {
            return "cannot set \(name): \(String(cString: sqlite3_errmsg(db)))"
        }
        guard sqlite3_exec(db, "PRAGMA temp_store = MEMORY", nil, nil, nil) == SQLITE_OK else {
            return "cannot set temp_store: \(String(cString: sqlite3_errmsg(db)))"
        }
        return nil
    }

    /// Seeds SQLite's random generator now, while /dev/urandom may still be opened (the worker's
    /// sandbox forbids it later; SQLite would fall back to a weak time-based seed).
    public static func seedRandomness() {
        var byte: UInt8 = 0
        sqlite3_randomness(1, &byte)
    }
}
