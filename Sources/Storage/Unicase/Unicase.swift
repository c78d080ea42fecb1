import CSQLite

/// The `unicase` collation Anki registers on every collection connection.
/// PLACEHOLDER: ASCII-only folding; the real Unicode-12 full case folding replaces it.
public enum Unicase {
    /// Compares two UTF-8 strings as Anki's pinned `unicase` 2.6.0 does (negative, 0, positive).
    public static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int32 {
        let n = min(a.count, b.count)
        for i in 0..<n {
            var x = a[i], y = b[i]
            if x >= 65 && x <= 90 { x += 32 }
            if y >= 65 && y <= 90 { y += 32 }
            if x != y { return x < y ? -1 : 1 }
        }
        return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
    }

    /// Registers the collation named `unicase` on an open SQLite connection. Returns the SQLite code.
    @discardableResult
    public static func register(on db: OpaquePointer) -> Int32 {
        sqlite3_create_collation_v2(db, "unicase", SQLITE_UTF8, nil, { _, la, pa, lb, pb in
            let a = UnsafeRawBufferPointer(start: pa, count: Int(la))
            let b = UnsafeRawBufferPointer(start: pb, count: Int(lb))
            return Unicase.compare(a, b)
        }, nil)
    }
}
