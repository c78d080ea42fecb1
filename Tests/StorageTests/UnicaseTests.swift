import CSQLite
import Foundation
import XCTest

@testable import Storage

/// The `unicase` collation (COLLECTION.md §1.5, §7.3): Rust `unicase` 2.6.0 as Anki uses it.
/// Tests/EndToEnd/test_unicase.py checks the same function against the real client.
final class UnicaseTests: XCTestCase {
    // MARK: helpers

    private func cmp(_ a: [UInt8], _ b: [UInt8]) -> Int32 {
        a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in Unicase.compare(pa, pb) } }
    }

    private func cmp(_ a: String, _ b: String) -> Int32 {
        cmp(Array(a.utf8), Array(b.utf8))
    }

    private func general(_ a: [UInt8], _ b: [UInt8]) -> Int32 {
        a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in
                // General path from offset 0; an empty side needs a valid pointer.
                let dummy = UnsafeRawPointer(bitPattern: 0x10)!
                return Unicase.general(pa.baseAddress ?? dummy, pa.count, pb.baseAddress ?? dummy, pb.count, from: 0)
            }
        }
    }

    private func folded(_ bytes: [UInt8]) -> [UInt32] {
        bytes.withUnsafeBytes { Unicase.folded($0) }
    }

    private func folded(_ s: String) -> [UInt32] { folded(Array(s.utf8)) }

    /// Independent model: the whole fold map as a dictionary, read back from the table.
    private static let foldMap: [UInt32: [UInt32]] = {
        var map: [UInt32: [UInt32]] = [:]
        let t = UnicaseFoldTable.self
        for cp in UInt32(0)..<t.limit {
            let block = UInt32(t.stage1[Int(cp >> t.blockShift)])
            let k = t.stage2[Int(block << t.blockShift | (cp & t.blockMask))]
            guard k != 0 else { continue }
            var packed = t.folds[Int(k)]
            var seq: [UInt32] = []
            while packed != 0 {
                seq.append(UInt32(packed & 0x1F_FFFF))
                packed >>= 21
            }
            map[cp] = seq
        }
        return map
    }()

    /// Reference comparison: decode with Swift's lossy UTF-8 decoding, fold every scalar into
    /// an array, compare the arrays lexicographically.
    private func reference(_ a: [UInt8], _ b: [UInt8]) -> Int32 {
        func fold(_ bytes: [UInt8]) -> [UInt32] {
            String(decoding: bytes, as: UTF8.self).unicodeScalars.flatMap { s -> [UInt32] in
                Self.foldMap[s.value] ?? [s.value]
            }
        }
        let x = fold(a), y = fold(b)
        for (p, q) in zip(x, y) where p != q { return p < q ? -1 : 1 }
        return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
    }

    private func scalars(_ values: [UInt32]) -> String {
        String(String.UnicodeScalarView(values.map { Unicode.Scalar($0)! }))
    }

    // MARK: the table

    func testTableProvenance() {
        XCTAssertEqual(UnicaseFoldTable.crateVersion, "2.6.0")
        XCTAssertEqual(UnicaseFoldTable.sourceSHA256, "3679235bfd5ff68b0a0040bfe687fda231b1934762158bc52e6b58e2a1fcc6cb")
        let map = Self.foldMap
        XCTAssertEqual(map.count, UnicaseFoldTable.foldingScalarCount)
        XCTAssertEqual(map.count, 1487)
        XCTAssertEqual(map.values.filter { $0.count == 2 }.count, 88)
        XCTAssertEqual(map.values.filter { $0.count == 3 }.count, 16)
        // Unicode 12: has U+A7C2 -> U+A7C3, lacks what 13/14 added.
        XCTAssertEqual(map[0xA7C2], [0xA7C3])
        for cp: UInt32 in [0xA7C7, 0xA7C9, 0xA7F5, 0x2C2F, 0x10570, 0x10595] {
            XCTAssertNil(map[cp], String(cp, radix: 16))
        }
        // Full folding, no Turkic, no simple-only entries.
        XCTAssertEqual(map[0x00DF], [0x73, 0x73])
        XCTAssertEqual(map[0x0130], [0x69, 0x307])
        XCTAssertEqual(map[0x0049], [0x69])
        XCTAssertNil(map[0x0131])
        XCTAssertEqual(map[0x1E9E], [0x73, 0x73])
        for c in UInt32(0)..<0x80 {
            XCTAssertEqual(map[c], (0x41...0x5A).contains(c) ? [c + 32] : nil)
        }
    }

    // MARK: verified behaviour of the reference backend (§1.5)

    func testVerifiedEqualities() {
        let groups: [[String]] = [
            ["ß", "ss", "SS", "ẞ", "sS", "Ss"],
            ["ſ", "s", "S"],
            ["\u{212A}", "k", "K"],
            ["\u{2126}", "ω", "Ω"],
            ["ﬁ", "fi", "FI"],
            ["İ", "i\u{307}", "I\u{307}"],
            ["σ", "ς", "Σ"],
            ["\u{13A0}", "\u{AB70}"],
            ["µ", "μ", "Μ"],
            ["Straße", "STRASSE", "strasse"],
            ["Tägé0", "TÄGÉ0"],
        ]
        for group in groups {
            for x in group {
                for y in group {
                    XCTAssertEqual(cmp(x, y), 0, "\(x) = \(y)")
                }
            }
        }
        XCTAssertEqual(folded("\u{AB70}"), [0x13A0], "Cherokee folds to the upper-case code point")
    }

    func testVerifiedInequalities() {
        let pairs: [(String, String)] = [
            ("é", "e\u{301}"), ("ı", "i"), ("_", "a"), ("_", "A"), ("ı", "I"), ("İ", "i"),
            ("ß", "s"), ("ß", "sss"), ("Å", "\u{212B}\u{301}"),
        ]
        for (x, y) in pairs {
            XCTAssertNotEqual(cmp(x, y), 0, "\(x) != \(y)")
            XCTAssertEqual(cmp(x, y), -cmp(y, x))
        }
        XCTAssertEqual(cmp("é", "e\u{301}"), 1, "U+00E9 > U+0065: no normalisation")
        XCTAssertEqual(cmp("_", "a"), -1, "0x5F sorts before letters (fold to lower)")
    }

    func testVerifiedOrder() {
        let order = ["[bracket", "^caret", "_under", "`tick", "apple", "Default", "ﬁ", "straße", "STRASSE2",
                     "Zebra", "Äpfel", "ǅ"]
        for i in order.indices {
            for j in order.indices {
                let want: Int32 = i < j ? -1 : (i == j ? 0 : 1)
                XCTAssertEqual(cmp(order[i], order[j]), want, "\(order[i]) vs \(order[j])")
            }
        }
        XCTAssertEqual(order.shuffled().sorted { cmp($0, $1) < 0 }, order)
    }

    /// unicase 2.6.0 yields a 3-scalar fold (a, b, c) as c, a, b; Anki's indexes depend on it
    /// (checked against the real client in test_unicase.py).
    func testThreeScalarFoldsUseTheCratesYieldOrder() {
        XCTAssertEqual(cmp("\u{FB03}", "iff"), 0)
        XCTAssertNotEqual(cmp("\u{FB03}", "ffi"), 0)
        XCTAssertEqual(cmp("\u{FB04}", "lff"), 0)
        XCTAssertEqual(cmp("\u{0390}", "\u{301}\u{3B9}\u{308}"), 0)
        XCTAssertNotEqual(cmp("\u{0390}", "\u{3B9}\u{308}\u{301}"), 0)
        XCTAssertEqual(cmp("\u{FB03}", "ffz"), 1)
        XCTAssertEqual(cmp("\u{FB03}", "ig"), -1)
        XCTAssertEqual(folded("\u{1FB7}"), [0x3B9, 0x3B1, 0x342])
        XCTAssertEqual(folded("\u{1F82}"), [0x1F02, 0x3B9], "2-scalar folds keep their order")
    }

    func testPrefixesSortFirst() {
        XCTAssertEqual(cmp("", ""), 0)
        XCTAssertEqual(cmp("", "a"), -1)
        XCTAssertEqual(cmp("a", ""), 1)
        XCTAssertEqual(cmp("", "ß"), -1)
        XCTAssertEqual(cmp("ß", "ssa"), -1)
        XCTAssertEqual(cmp("ssa", "ß"), 1)
        XCTAssertEqual(cmp("s", "ß"), -1)
        XCTAssertEqual(cmp("ß", "s"), 1)
        XCTAssertEqual(cmp("Deck", "deck::sub"), -1)
        XCTAssertEqual(cmp("Déck", "DÉCK::sub"), -1)
        XCTAssertEqual(cmp("abcdefghijklmnop", "ABCDEFGHIJKLMNOPQ"), -1)
        XCTAssertEqual(cmp("ﬁ", "fi\u{0}"), -1)
        XCTAssertEqual(cmp("a\u{0}", "A"), 1)
    }

    // MARK: fast path, lazy path and model agree

    func testAsciiFastPathMatchesGeneralPath() {
        var rng = SplitMix64(seed: 1)
        let alphabet = Array("aAbBzZ_[]^`@{|}~ 09:-".utf8) + [0x00, 0x01, 0x7F]
        for _ in 0..<20_000 {
            let a = (0..<rng.below(20)).map { _ in alphabet[rng.below(alphabet.count)] }
            var b = a
            if rng.below(3) > 0, !b.isEmpty {
                for _ in 0..<(1 + rng.below(3)) {
                    b[rng.below(b.count)] = alphabet[rng.below(alphabet.count)]
                }
            }
            if rng.below(4) == 0 { b += (0..<rng.below(10)).map { _ in alphabet[rng.below(alphabet.count)] } }
            let fast = cmp(a, b)
            XCTAssertEqual(fast, general(a, b))
            XCTAssertEqual(fast, reference(a, b))
            XCTAssertEqual(fast, -cmp(b, a))
            // Same result when the general path has to take over mid-string.
            let suffix = Array("é".utf8)
            if fast != 0 && !isPrefixIgnoringCase(a, b) && !isPrefixIgnoringCase(b, a) {
                XCTAssertEqual(cmp(a + suffix, b + suffix), fast)
            }
        }
    }

    private func isPrefixIgnoringCase(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count <= b.count && zip(a, b).allSatisfy { Unicase.asciiLower($0) == Unicase.asciiLower($1) }
    }

    func testRandomStringsAgainstModel() {
        var rng = SplitMix64(seed: 2)
        // Every folding scalar, its fold targets, their neighbours, and some ASCII.
        var pool = Set<UInt32>()
        for (k, v) in Self.foldMap {
            pool.insert(k)
            pool.formUnion(v)
            pool.insert(k + 1)
            if k > 0 { pool.insert(k - 1) }
        }
        pool.formUnion(Array("aAsSiIkKfFlL_[`z09 ".unicodeScalars.map(\.value)))
        pool.formUnion([0x0131, 0x0307, 0x0301, 0x0308, 0xFFFD, 0x1F600, 0x10FFFF, 0x10570, 0xA7C7])
        let chars = pool.filter { Unicode.Scalar($0) != nil }.sorted()
        func randomString() -> [UInt8] {
            let s = scalars((0..<rng.below(6)).map { _ in chars[rng.below(chars.count)] })
            return Array(s.utf8)
        }
        var equalCount = 0
        for _ in 0..<50_000 {
            let a = randomString()
            let b = rng.below(4) == 0 ? Array(String(decoding: a, as: UTF8.self).uppercased().utf8) : randomString()
            let c = cmp(a, b)
            XCTAssertEqual(c, reference(a, b), "\(String(decoding: a, as: UTF8.self)) vs \(String(decoding: b, as: UTF8.self))")
            XCTAssertEqual(c, -cmp(b, a))
            XCTAssertEqual(c == 0, folded(a) == folded(b))
            if c == 0 { equalCount += 1 }
        }
        XCTAssertGreaterThan(equalCount, 1000)
        // Every single folding scalar equals its fold (as yielded).
        for (k, v) in Self.foldMap {
            XCTAssertEqual(cmp(scalars([k]), scalars(v)), 0, String(k, radix: 16))
            XCTAssertEqual(folded(scalars([k, 0x41, k])), v + [0x61] + v)
        }
    }

    // MARK: invalid UTF-8 (rusqlite passes String::from_utf8_lossy to Anki's comparator)

    func testInvalidUTF8BehavesLikeLossyDecoding() {
        let fffd = Array("\u{FFFD}".utf8)
        let cases: [([UInt8], [UInt8])] = [
            ([0xFF], fffd),
            ([0x80], fffd),
            ([0xC0, 0xAF], fffd + fffd),                // overlong lead: each byte replaced
            ([0xE2, 0x82], fffd),                       // truncated: one replacement
            ([0xE2, 0x82, 0x41], fffd + [0x41]),
            ([0xE0, 0x80, 0x80], fffd + fffd + fffd),   // E0 needs A0..BF
            ([0xED, 0xA0, 0x80], fffd + fffd + fffd),   // surrogate
            ([0xF0, 0x9F, 0x98], fffd),
            ([0xF0, 0x9F, 0x98, 0x41], fffd + [0x41]),
            ([0xF4, 0x90, 0x80, 0x80], fffd + fffd + fffd + fffd),
            ([0xF5, 0x41], fffd + [0x41]),
            ([0x41, 0xC3], [0x41] + fffd),
            ([0xC3, 0x9F, 0xFF], Array("ß".utf8) + fffd),
        ]
        for (raw, want) in cases {
            XCTAssertEqual(cmp(raw, want), 0, "\(raw)")
            XCTAssertEqual(folded(raw), folded(want), "\(raw)")
            XCTAssertEqual(Array(String(decoding: raw, as: UTF8.self).utf8), want, "Swift's lossy decoding agrees")
        }
        XCTAssertEqual(cmp([0xFF], Array("\u{FFFE}".utf8)), -1, "a bad byte sorts as U+FFFD")
        XCTAssertEqual(cmp([0xFF], Array("\u{FFFC}".utf8)), 1)
        XCTAssertEqual(cmp([0xFF], Array("\u{10000}".utf8)), -1, "not as a raw byte 0xFF > 0xF0")
    }

    func testRandomBytesNeverCrashAndMatchLossyModel() {
        var rng = SplitMix64(seed: 3)
        let interesting: [UInt8] = [0x41, 0x61, 0x5F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xC3, 0xDF,
                                    0xE0, 0xE1, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF, 0x00]
        for _ in 0..<10_000 {
            let a = (0..<rng.below(8)).map { _ in rng.below(2) == 0 ? interesting[rng.below(interesting.count)] : UInt8(rng.below(256)) }
            let b = (0..<rng.below(8)).map { _ in rng.below(2) == 0 ? interesting[rng.below(interesting.count)] : UInt8(rng.below(256)) }
            XCTAssertEqual(cmp(a, b), reference(a, b), "\(a) vs \(b)")
            XCTAssertEqual(cmp(a, a), 0)
            // A long shared prefix exercises the word-wise and identical-prefix skips.
            let prefix = (0..<rng.below(24)).map { _ in rng.below(2) == 0 ? interesting[rng.below(interesting.count)] : UInt8(rng.below(256)) }
            XCTAssertEqual(cmp(prefix + a, prefix + b), reference(prefix + a, prefix + b), "\(prefix + a) vs \(prefix + b)")
            let ascii = Array("Some::Long::Deck::Name".utf8)
            XCTAssertEqual(cmp(ascii + prefix + a, ascii + prefix + b), reference(ascii + prefix + a, ascii + prefix + b))
        }
    }

    // MARK: SQLite

    func testSQLiteCollation() throws {
        var db: OpaquePointer?
        XCTAssertEqual(sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil), SQLITE_OK)
        guard let db else { return XCTFail("open") }
        defer { sqlite3_close_v2(db) }
        XCTAssertEqual(Unicase.register(on: db), SQLITE_OK)

        func exec(_ sql: String) -> Int32 { sqlite3_exec(db, sql, nil, nil, nil) }
        func insert(_ tag: String) -> Int32 {
            var st: OpaquePointer?
            guard sqlite3_prepare_v2(db, "insert into tags (tag, usn) values (?, 0)", -1, &st, nil) == SQLITE_OK else { return -1 }
            defer { sqlite3_finalize(st) }
            sqlite3_bind_text(st, 1, tag, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
            return sqlite3_step(st)
        }
        func strings(_ sql: String, _ arg: String? = nil) -> [String] {
            var st: OpaquePointer?
            guard sqlite3_prepare_v2(db, sql, -1, &st, nil) == SQLITE_OK else { return ["prepare failed"] }
            defer { sqlite3_finalize(st) }
            if let arg { sqlite3_bind_text(st, 1, arg, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self)) }
            var out: [String] = []
            while sqlite3_step(st) == SQLITE_ROW { out.append(String(cString: sqlite3_column_text(st, 0))) }
            return out
        }

        XCTAssertEqual(exec("create table tags (tag text not null primary key collate unicase, usn integer not null) without rowid"), SQLITE_OK)
        XCTAssertEqual(insert("Tag::Sub2"), SQLITE_DONE)
        XCTAssertEqual(insert("TAG::SUB2"), SQLITE_CONSTRAINT)
        XCTAssertEqual(insert("Straße"), SQLITE_DONE)
        XCTAssertEqual(insert("STRASSE"), SQLITE_CONSTRAINT)
        XCTAssertEqual(insert("Tägé0"), SQLITE_DONE)
        XCTAssertEqual(insert("Tage\u{301}0"), SQLITE_DONE, "no normalisation: e+U+0301 is distinct")
        XCTAssertEqual(strings("select tag from tags where tag = ?", "TÄGÉ0"), ["Tägé0"])
        XCTAssertEqual(strings("select tag from tags where tag = ?", "strasse"), ["Straße"])

        // Fill the b-tree with many names and check SQLite's order and integrity.
        var rng = SplitMix64(seed: 4)
        let pieces = ["a", "A", "ß", "ss", "ſ", "ﬁ", "ﬃ", "İ", "ı", "_", "[", "`", "é", "e\u{301}", "Ω", "\u{2126}",
                      "σ", "ς", "\u{13A0}", "\u{AB70}", "µ", "::", "z", "Z", "1", " ", "日本", "\u{1E900}", "\u{10400}"]
        var inserted = 0
        for _ in 0..<3000 {
            let tag = (0..<(1 + rng.below(5))).map { _ in pieces[rng.below(pieces.count)] }.joined()
            if insert(tag) == SQLITE_DONE { inserted += 1 }
        }
        XCTAssertGreaterThan(inserted, 1000)
        let all = strings("select tag from tags order by tag collate unicase")
        XCTAssertEqual(all.count, inserted + 4)
        for (x, y) in zip(all, all.dropFirst()) {
            XCTAssertEqual(cmp(x, y), -1, "\(x) < \(y) (unique key, strictly increasing)")
        }
        XCTAssertEqual(strings("pragma integrity_check"), ["ok"])
    }

    // MARK: speed (informational; meaningful only in release builds)

    func testSpeedReport() {
        let asciiPairs: [([UInt8], [UInt8])] = [
            (Array("Default::Japanese::Vocabulary 1".utf8), Array("default::japanese::vocabulary 2".utf8)),
            (Array("Tag::Sub2".utf8), Array("TAG::SUB2".utf8)),
        ]
        let uniPairs: [([UInt8], [UInt8])] = [
            (Array("日本語::語彙::第一".utf8), Array("日本語::語彙::第二".utf8)),
            (Array("Straße::Äpfel".utf8), Array("STRASSE::äPFEL".utf8)),
        ]
        func time(_ pairs: [([UInt8], [UInt8])]) -> Double {
            let rounds = 20_000
            var sink: Int32 = 0
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<rounds {
                for (a, b) in pairs { sink &+= cmp(a, b) }
            }
            let ns = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(rounds * pairs.count)
            XCTAssertNotEqual(sink, 12345)
            return ns
        }
        print("unicase compare: ASCII \(time(asciiPairs)) ns, non-ASCII \(time(uniPairs)) ns (per compare, this build)")
    }
}
