import Shared
import Storage
import XCTest
@testable import Worker

final class SyncWireTests: XCTestCase {
    func testGravesAcceptNumbersStringsAndAbsentLists() throws {
        let g = try SyncWire.graves(try JSON.parse(#"{"cards":["1","2"],"notes":[3]}"#), "g")
        XCTAssertEqual(g, SyncGraves(cards: [1, 2], notes: [3], decks: []))
        XCTAssertThrowsError(try SyncWire.graves(try JSON.parse(#"{"cards":["x"]}"#), "g"))
        XCTAssertEqual(String(decoding: SyncWire.writeGraves(g), as: UTF8.self), #"{"cards":[1,2],"decks":[],"notes":[3]}"#)
    }

    func testCardRowsLiberalFloatsAndStrictRanges() throws {
        let row = try JSON.parse(#"[1,2,3,0,1796069325.9,10,1,1,1796069938.0,0,0,1,0,1,0,0,0,"{\"pos\":1}"]"#)
        let card = try SyncWire.card(row, "c")
        XCTAssertEqual(card.mod, 1_796_069_325)
        XCTAssertEqual(card.due, 1_796_069_938)
        XCTAssertEqual(card.data, #"{"pos":1}"#)
        var out: [UInt8] = []
        SyncWire.writeCard(card, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), #"[1,2,3,0,1796069325,10,1,1,1796069938,0,0,1,0,1,0,0,0,"{\"pos\":1}"]"#)
        XCTAssertThrowsError(try SyncWire.card(try JSON.parse("[1,2,3,0,1,10,9,1,0,0,0,1,0,1,0,0,0,\"\"]"), "c"))   // type 9
        XCTAssertThrowsError(try SyncWire.card(try JSON.parse("[1,2,3,0.5,1,10,1,1,0,0,0,1,0,1,0,0,0,\"\"]"), "c")) // ord float
        XCTAssertThrowsError(try SyncWire.card(try JSON.parse("[1,2,3]"), "c"))
    }

    func testNoteRowsAsArrayOrObject() throws {
        let a = try SyncWire.note(try JSON.parse(#"[5,"g",7,100,2," t ","a\u001fb","","",0,""]"#), "n")
        let o = try SyncWire.note(try JSON.parse(#"{"id":5,"guid":"g","mid":7,"mod":100,"usn":2,"tags":" t ","flds":"a\u001fb"}"#), "n")
        XCTAssertEqual(a, o)
        var out: [UInt8] = []
        SyncWire.writeNote(a, into: &out)
        XCTAssertEqual(String(decoding: out, as: UTF8.self), #"[5,"g",7,100,2," t ","a\u001fb","","",0,""]"#)
    }

    func testRevlogInvalidKindFallsBackToZero() throws {
        let r = try SyncWire.revlog(try JSON.parse("[1,2,3,1,-60.0,0,2500,1234.9,17]"), "r")
        XCTAssertEqual(r.type, 0)
        XCTAssertEqual(r.ivl, -60)
        XCTAssertEqual(r.time, 1234)
    }

    func testEmptyInputAndSanityCounts() throws {
        XCTAssertNoThrow(try SyncWire.emptyInput(Array(#"{"_pad":null}"#.utf8), "x"))
        XCTAssertNoThrow(try SyncWire.emptyInput(Array("{}".utf8), "x"))
        XCTAssertThrowsError(try SyncWire.emptyInput(Array(#"{"extra":1}"#.utf8), "x"))
        let (due, c) = try SyncWire.sanityCounts(try JSON.parse("[[0,0,0],4,4,0,2,6,1,1]"), "s")
        XCTAssertEqual(due, [0, 0, 0])
        XCTAssertEqual(c, SanityCounts(cards: 4, notes: 4, revlog: 0, graves: 2, notetypes: 6, decks: 1, deckConfig: 1))
    }

    func testConfigValuesGetSortedKeys() throws {
        let v = SyncWire.sortedKeys(try JSON.parse(#"{"b":1,"a":{"z":[{"y":1,"x":2}],"ä":0,"A":3}}"#))
        XCTAssertEqual(String(decoding: JSON.serialize(v), as: UTF8.self), #"{"a":{"A":3,"z":[{"x":2,"y":1}],"ä":0},"b":1}"#)
    }
}
