import XCTest
@testable import Storage

final class SyncStoreTests: XCTestCase {
    private func newCollection() throws -> Collection {
        let dir = try makeTempDir(self)
        let path = dir + "/collection.anki2"
        try Collection.createNew(atPath: path, nowMillis: testNowMillis)
        return try Collection.open(atPath: path)
    }

    private func basicId(_ store: SyncStore) throws -> Int64 {
        try XCTUnwrap(store.db.scalar("SELECT id FROM notetypes LIMIT 1")?.int64)
    }

    func testSortFieldAndChecksum() {
        let stripped = FieldText.stripHTMLPreservingMediaFilenames(#"<b>Hello</b> &amp; <img src="a.jpg">"#)
        XCTAssertEqual(stripped, "Hello &  a.jpg ")
        XCTAssertEqual(FieldText.checksum(stripped), 1_668_606_138)
        XCTAssertEqual(FieldText.checksum("123"), 1_086_128_149)
        XCTAssertEqual(FieldText.stripHTMLPreservingMediaFilenames("a &nbsp;b"), "a  b")
        XCTAssertEqual(FieldText.stripHTMLPreservingMediaFilenames("a & b"), "a & b")       // malformed: kept
        XCTAssertEqual(FieldText.stripHTMLPreservingMediaFilenames("x<!-- c -->y<style>p{}</style>z"), "xyz")
        XCTAssertEqual(FieldText.stripHTMLPreservingMediaFilenames("a<STYLE x>p</Style>b<script>1</SCRIPT>c<!-- x"), "abc<!-- x")
        XCTAssertEqual(FieldText.stripHTMLPreservingMediaFilenames("1 < 2 and <b\n>x</b> <"), "1 x <")
        XCTAssertEqual(FieldText.stripHTMLPreservingMediaFilenames("<IMG class='a' src=pic.png>x<audio src=\"s.mp3\">"), " pic.png x s.mp3 ")
        XCTAssertEqual(FieldText.removeInvalidCharacters("a\u{1}b\tc\nd\u{7f}"), "ab\tc\nd")
    }

    func testChunkTakeIsRoundRobinLikeTheReference() {
        var ids = ChunkableIds(revlog: [], cards: Array(1...200), notes: Array(1001...1200))
        let first = ids.take(limit: 250)
        XCTAssertEqual(first.notes.count, 125)
        XCTAssertEqual(first.cards.count, 125)
        XCTAssertFalse(first.done)
        XCTAssertEqual(first.notes.first, 1200)              // taken from the end
        let second = ids.take(limit: 250)
        XCTAssertEqual(second.notes.count + second.cards.count, 150)
        XCTAssertTrue(second.done)
        var three = ChunkableIds(revlog: Array(1...100), cards: Array(1...100), notes: Array(1...100))
        let t = three.take(limit: 250)
        XCTAssertEqual(t.revlog.count + t.notes.count + t.cards.count, 252)   // a pass is never cut short
        var exact = ChunkableIds(revlog: [], cards: Array(1...125), notes: Array(1...125))
        XCTAssertFalse(exact.take(limit: 250).done)
        XCTAssertTrue(exact.take(limit: 250).done)
    }

    func testNotesMergeByUsnAndMtimeAndRecomputeSortField() throws {
        let col = try newCollection()
        let store = SyncStore(col)
        let mid = try basicId(store)
        try store.begin()
        let note = SyncNote(id: 10, guid: "g", mid: mid, mod: 100, usn: 5, tags: "  b\u{3000}a ", flds: "<i>Hi</i>\u{1}\u{1f}back")
        XCTAssertTrue(try store.mergeNote(note, clientUsn: 3, usn: 7))
        let row = try store.db.rows("SELECT usn, tags, flds, sfld, csum, flags, data FROM notes WHERE id = 10")[0]
        XCTAssertEqual(row, [.integer(7), .text(" b a "), .text("<i>Hi</i>\u{1f}back"), .text("Hi"),
                             .integer(FieldText.checksum("Hi")), .integer(0), .text("")])
        // stored row (usn 7) counts as changed since a client whose last sync was usn 3:
        var older = note
        older.mod = 100
        older.flds = "older\u{1f}x"
        XCTAssertFalse(try store.mergeNote(older, clientUsn: 3, usn: 7))     // equal mod: server keeps its row
        older.mod = 101
        XCTAssertTrue(try store.mergeNote(older, clientUsn: 3, usn: 7))      // strictly newer wins
        older.mod = 50
        XCTAssertTrue(try store.mergeNote(older, clientUsn: 8, usn: 8))      // not changed since usn 8: replaced
        XCTAssertThrowsError(try store.mergeNote(SyncNote(id: 11, guid: "h", mid: 999, mod: 1, usn: 0, tags: "", flds: "a\u{1f}b"),
                                                 clientUsn: 0, usn: 7))
        XCTAssertThrowsError(try store.mergeNote(SyncNote(id: 12, guid: "h", mid: mid, mod: 1, usn: 0, tags: "", flds: "only one"),
                                                 clientUsn: 0, usn: 7))
        XCTAssertEqual(try store.db.scalar("SELECT typeof(sfld) FROM notes WHERE id = 10"), .text("text"))
        _ = try store.mergeNote(SyncNote(id: 13, guid: "n", mid: mid, mod: 1, usn: 0, tags: "", flds: "123\u{1f}x"), clientUsn: 0, usn: 7)
        XCTAssertEqual(try store.db.scalar("SELECT sfld FROM notes WHERE id = 13"), .integer(123))
        store.rollback()
        XCTAssertEqual(try store.db.scalar("SELECT count() FROM notes"), .integer(0))
    }

    func testGravesAndOrphans() throws {
        let col = try newCollection()
        let store = SyncStore(col)
        let mid = try basicId(store)
        try store.begin()
        try store.mergeNote(SyncNote(id: 20, guid: "g", mid: mid, mod: 1, usn: 0, tags: "", flds: "a\u{1f}b"), clientUsn: 0, usn: 4)
        let card = SyncCard(id: 30, nid: 20, did: 1, ord: 0, mod: 1, usn: 0, type: 0, queue: 0, due: 1, ivl: 0, factor: 0,
                            reps: 0, lapses: 0, left: 0, odue: 0, odid: 0, flags: 0, data: "{}")
        try store.mergeCard(card, clientUsn: 0, usn: 4)
        XCTAssertEqual(try store.orphanedCards(usn: 4), [])
        try store.applyGraves(SyncGraves(cards: [30, 31], notes: [20], decks: [99]), usn: 4)
        XCTAssertEqual(try store.pendingGraves(minUsn: 4), SyncGraves(cards: [30, 31], notes: [20], decks: [99]))
        XCTAssertEqual(try store.pendingGraves(minUsn: 5), SyncGraves())
        try store.applyGraves(SyncGraves(cards: [30]), usn: 9)               // existing grave keeps its usn
        XCTAssertEqual(try store.pendingGraves(minUsn: 5), SyncGraves())
        var orphan = card
        orphan.id = 31
        orphan.nid = 777
        try store.mergeCard(orphan, clientUsn: 0, usn: 4)
        XCTAssertEqual(try store.orphanedCards(usn: 4), [31])
        store.rollback()
    }

    func testTagsRegisterOnceAndAdoptParentCase() throws {
        let col = try newCollection()
        let store = SyncStore(col)
        try store.begin()
        try store.registerTag("Parent", usn: 3)
        try store.registerTag("parent::child", usn: 3)
        try store.registerTag("PARENT", usn: 9)
        try store.registerTag("a b", usn: 3)
        let rows = try store.db.rows("SELECT tag, usn, collapsed FROM tags ORDER BY tag")
        XCTAssertEqual(rows, [[.text("ab"), .integer(3), .integer(1)], [.text("Parent"), .integer(3), .integer(1)],
                              [.text("Parent::child"), .integer(3), .integer(1)]])
        XCTAssertEqual(try store.pendingTags(minUsn: 4), [])
        store.rollback()
    }

    func testUnburyAtDayRollover() throws {
        let col = try newCollection()
        let store = SyncStore(col)
        let mid = try basicId(store)
        try store.begin()
        try store.mergeNote(SyncNote(id: 20, guid: "g", mid: mid, mod: 1, usn: 0, tags: "", flds: "a\u{1f}b"), clientUsn: 0, usn: 1)
        var card = SyncCard(id: 30, nid: 20, did: 1, ord: 0, mod: 555, usn: 1, type: 2, queue: -2, due: 10, ivl: 3, factor: 2500,
                            reps: 1, lapses: 0, left: 0, odue: 0, odid: 0, flags: 0, data: "{}")
        try store.mergeCard(card, clientUsn: 0, usn: 1)
        card.id = 31
        card.type = 1
        card.queue = -3
        card.due = 1_800_000_000
        try store.mergeCard(card, clientUsn: 0, usn: 1)
        let now = testNowMillis / 1000 + 30 * 86_400
        let today = try store.schedulerDay(nowSecs: now, usn: 1)
        try store.setConfig("lastUnburied", Array(String(today).utf8), usn: 0, mtimeSecs: 0)
        XCTAssertNil(try store.unburyIfDayRolledOver(nowSecs: now, usn: 1))             // same day: nothing
        try store.setConfig("lastUnburied", Array(String(today - 3).utf8), usn: 0, mtimeSecs: 0)
        XCTAssertEqual(try store.unburyIfDayRolledOver(nowSecs: now, usn: 1), 2)
        XCTAssertEqual(try store.db.rows("SELECT queue, mod, usn FROM cards ORDER BY id"),
                       [[.integer(2), .integer(555), .integer(1)], [.integer(1), .integer(555), .integer(1)]])
        XCTAssertEqual(try store.config("lastUnburied"), Array(String(today).utf8))
        store.rollback()
    }

    func testSanityCountsAndPendingUsn() throws {
        let col = try newCollection()
        let store = SyncStore(col)
        XCTAssertEqual(try store.tableWithPendingUsn(), nil)
        let counts = try store.sanityCounts()
        XCTAssertEqual(counts.decks, 1)
        XCTAssertEqual(counts.deckConfig, 1)
        try store.db.run("UPDATE decks SET usn = -1")
        XCTAssertEqual(try store.tableWithPendingUsn(), "decks")
    }
}
