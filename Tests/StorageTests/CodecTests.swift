import Shared
import XCTest
@testable import Storage

private func json(_ s: String) -> JSONValue { try! JSON.parse(s) }
private func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

final class CodecProtoTests: XCTestCase {
    func testReaderAcceptsAnyOrderRepeatsUnknownTagsAndBothRepeatedForms() throws {
        // #2 = 5, unknown #99 varint, #2 = 7 (last wins), unknown fixed64 #98, unknown bytes #97,
        // #3 unpacked floats 1.0, 2.0 then a packed run [3.0], #4 packed varints [1, 300] then unpacked 5
        var bytes: [UInt8] = [0x10, 0x05, 0x98, 0x06, 0x01, 0x10, 0x07]
        bytes += [0x91, 0x06] + [UInt8](repeating: 0xAA, count: 8)
        bytes += [0x8A, 0x06, 0x02, 0x61, 0x62]
        bytes += [0x1D, 0x00, 0x00, 0x80, 0x3F, 0x1D, 0x00, 0x00, 0x00, 0x40]
        bytes += [0x1A, 0x04, 0x00, 0x00, 0x40, 0x40]
        bytes += [0x22, 0x03, 0x01, 0xAC, 0x02, 0x20, 0x05]
        let r = try ProtoReader(bytes)
        XCTAssertEqual(try r.uint32(2), 7)
        XCTAssertEqual(try r.floats(3), [1, 2, 3])
        XCTAssertEqual(try r.uint32s(4), [1, 300, 5])
        XCTAssertEqual(try r.uint32(1), 0)
        XCTAssertNil(try r.optionalUInt32(1))
        XCTAssertEqual(try r.string(5), "")
    }

    func testReaderMergesSubMessagesAndDecodesNegativeVarints() throws {
        var w = ProtoWriter()
        w.int64(1, -5451527555416091613)
        var a = ProtoWriter(); a.uint32(1, 7)
        var b = ProtoWriter(); b.uint32(2, 123)
        w.message(9, a)
        w.message(9, b)
        let r = try ProtoReader(w.bytes)
        XCTAssertEqual(try r.int64(1), -5451527555416091613)
        let m = try XCTUnwrap(try r.message(9))
        XCTAssertEqual(try m.uint32(1), 7)
        XCTAssertEqual(try m.uint32(2), 123)
        XCTAssertEqual(try r.messages(9).count, 2)
    }

    func testReaderRejectsTruncatedAndWrongWireTypes() {
        XCTAssertThrowsError(try ProtoReader([0x08]))
        XCTAssertThrowsError(try ProtoReader([0x0A, 0x05, 0x01]))
        XCTAssertThrowsError(try ProtoReader([0x0D, 0x00, 0x00]))
        XCTAssertThrowsError(try ProtoReader([0x08] + [UInt8](repeating: 0xFF, count: 11)))
        XCTAssertThrowsError(try ProtoReader([0x0B]))  // group start
        XCTAssertThrowsError(try ProtoReader([0x0A, 0x00]).uint32(1))
        XCTAssertThrowsError(try ProtoReader([0x0A, 0x02, 0xC3, 0x28]).string(1))
    }

    func testWriterPresenceAndDefaults() {
        var w = ProtoWriter()
        w.float(present: 10, 0)
        w.uint32(present: 10, 0)
        w.float(11, 0)
        XCTAssertEqual(w.bytes, [0x55, 0, 0, 0, 0, 0x50, 0x00])
    }
}

final class CodecNotetypeTests: XCTestCase {
    static let basic = """
        {"id": 1796068952867, "name": "Basic", "type": 0, "mod": 0, "usn": 0, "sortf": 0, "did": null,
         "tmpls": [{"name": "Card 1", "ord": 0, "qfmt": "{{Front}}",
                    "afmt": "{{FrontSide}}\\n\\n<hr id=answer>\\n\\n{{Back}}", "bqfmt": "", "bafmt": "",
                    "did": null, "bfont": "", "bsize": 0, "id": -5451527555416091613}],
         "flds": [{"name": "Front", "ord": 0, "sticky": false, "rtl": false, "font": "Arial", "size": 20,
                   "description": "", "plainText": false, "collapsed": false, "excludeFromSearch": false,
                   "id": 6806996674389576050, "tag": null, "preventDeletion": false},
                  {"name": "Back", "ord": 1, "sticky": false, "rtl": false, "font": "Arial", "size": 20,
                   "description": "", "plainText": false, "collapsed": false, "excludeFromSearch": false,
                   "id": -3770790342052105552, "tag": null, "preventDeletion": false}],
         "css": ".card {}", "latexPre": "pre", "latexPost": "\\\\end{document}", "latexsvg": false,
         "req": [[0, "any", [0]]], "originalStockKind": 1}
        """

    func testStockBasicMatchesReferenceBytes() throws {
        let row = try NotetypeCodec.row(fromSchema11: json(Self.basic))
        XCTAssertEqual(row.id, 1796068952867)
        XCTAssertEqual(hex(row.config), "1a08" + "2e63617264207b7d" + "2a03" + "707265" + "320e" + "5c656e647b646f63756d656e747d"
                       + "42051001" + "1a0100" + "4801")
        XCTAssertEqual(row.fields.map(\.ord), [0, 1])
        XCTAssertEqual(row.fields[0].config, hexBytes("1a05") + Array("Arial".utf8) + hexBytes("2014 48f29286e290edd3bb5e"))
        XCTAssertEqual(row.fields[1].config.count, 20, "negative id: 10-byte varint")
        XCTAssertEqual(row.templates[0].mtimeSecs, 0)
        XCTAssertEqual(row.templates[0].usn, 0)
        let back = try NotetypeCodec.schema11(from: row)
        XCTAssertEqual(back, json(Self.basic))
        XCTAssertEqual(back.object?.keys, ["id", "name", "type", "mod", "usn", "sortf", "did", "tmpls", "flds", "css",
                                           "latexPre", "latexPost", "latexsvg", "req", "originalStockKind"])
        XCTAssertEqual(back["flds"]?.array?[1]["id"], .int(-3770790342052105552))
    }

    func testUnknownKeysTravelInOther() throws {
        var o = json(Self.basic).object!
        o["zzTop"] = json(#"{"b":1,"a":{"d":1,"c":2}}"#)
        var flds = o["flds"]!.array!
        var f0 = flds[0].object!
        f0["zzField"] = "x"
        f0["media"] = []
        flds[0] = .object(f0)
        o["flds"] = .array(flds)
        let row = try NotetypeCodec.row(fromSchema11: .object(o))
        let cfg = try ProtoReader(row.config)
        XCTAssertEqual(String(decoding: try cfg.bytes(255), as: UTF8.self), #"{"zzTop":{"a":{"c":2,"d":1},"b":1}}"#)
        let fcfg = try ProtoReader(row.fields[0].config)
        XCTAssertEqual(String(decoding: try fcfg.bytes(255), as: UTF8.self), #"{"zzField":"x","media":[]}"#)
        let back = try NotetypeCodec.schema11(from: row)
        XCTAssertEqual(back, .object(o))
        XCTAssertEqual(back.object?.keys.last, "zzTop")
    }

    func testLeniency() throws {
        var o = json(Self.basic).object!
        o["id"] = "1796068952867"
        o["did"] = "x"
        o["css"] = .null
        o["latexsvg"] = "yes"
        o["req"] = "bad"
        var f0 = o["flds"]!.array![0].object!
        f0["sticky"] = "TRUE"
        f0["rtl"] = 1
        f0["description"] = 5
        f0["tag"] = -1
        f0["ord"] = .null
        o["flds"] = .array([.object(f0)])
        var t0 = o["tmpls"]!.array![0].object!
        t0["bsize"] = 300
        t0["bfont"] = .null
        t0["did"] = -5
        o["tmpls"] = .array([.object(t0)])
        let row = try NotetypeCodec.row(fromSchema11: .object(o))
        let back = try NotetypeCodec.schema11(from: row)
        XCTAssertEqual(back["id"], .int(1796068952867))
        XCTAssertEqual(back["did"], .null)
        XCTAssertEqual(back["css"], "")
        XCTAssertEqual(back["latexsvg"], false)
        XCTAssertEqual(back["req"], [])
        let f = back["flds"]!.array![0]
        XCTAssertEqual(f["sticky"], true)
        XCTAssertEqual(f["rtl"], true)
        XCTAssertEqual(f["description"], "")
        XCTAssertEqual(f["tag"], .null)
        XCTAssertEqual(f["ord"], 0)
        let t = back["tmpls"]!.array![0]
        XCTAssertEqual(t["bsize"], 0)
        XCTAssertEqual(t["did"], .null, "negative did stored but emitted as null")
        XCTAssertEqual(try ProtoReader(row.templates[0].config).int64(5), -5)
    }

    func testHardErrors() {
        func fails(_ edit: (inout JSONObject) -> Void, file: StaticString = #filePath, line: UInt = #line) {
            var o = json(Self.basic).object!
            edit(&o)
            XCTAssertThrowsError(try NotetypeCodec.row(fromSchema11: .object(o)), file: file, line: line)
        }
        fails { $0["type"] = 2 }
        fails { $0["type"] = true }
        fails { $0["sortf"] = "0" }
        fails { $0["css"] = nil }
        fails { $0["did"] = nil }
        fails { $0["mod"] = 1.0 }
        fails { $0["id"] = "1.5" }
        fails { $0["latexPre"] = 5 }
        fails { $0["originalId"] = "x" }
        fails { o in
            var f = o["flds"]!.array![0].object!
            f["size"] = 70000
            o["flds"] = .array([.object(f)])
        }
        fails { o in
            var f = o["flds"]!.array![0].object!
            f["sticky"] = 2
            o["flds"] = .array([.object(f)])
        }
        fails { o in
            var t = o["tmpls"]!.array![0].object!
            t["qfmt"] = nil
            o["tmpls"] = .array([.object(t)])
        }
        XCTAssertThrowsError(try NotetypeCodec.row(fromSchema11: .array([])))
    }
}

final class CodecDeckTests: XCTestCase {
    static let defaultDeck = """
        {"id": 1, "mod": 0, "name": "Default", "usn": 0, "lrnToday": [0, 0], "revToday": [0, 0],
         "newToday": [0, 0], "timeToday": [0, 0], "collapsed": true, "browserCollapsed": true,
         "desc": "", "dyn": 0, "conf": 1, "extendNew": 0, "extendRev": 0, "reviewLimit": null,
         "newLimit": null, "reviewLimitToday": null, "newLimitToday": null, "desiredRetention": null}
        """
    static let filtered = """
        {"id": 1796068978834, "mod": 1796068978, "name": "Filt", "usn": -1, "lrnToday": [0, 0],
         "revToday": [0, 0], "newToday": [0, 0], "timeToday": [0, 0], "collapsed": true,
         "browserCollapsed": true, "desc": "", "dyn": 1, "resched": true, "terms": [["", 100, 0]],
         "separate": true, "delays": null, "previewDelay": 0, "previewAgainSecs": 60,
         "previewHardSecs": 600, "previewGoodSecs": 0}
        """

    func testDefaultDeckMatchesReference() throws {
        let row = try DeckCodec.row(fromSchema11: json(Self.defaultDeck))
        XCTAssertEqual(row.common, hexBytes("08011001"))
        XCTAssertEqual(row.kind, hexBytes("0a020801"))
        let back = try DeckCodec.schema11(from: row)
        XCTAssertTrue(back.isIdentical(to: json(Self.defaultDeck)), back.description)
    }

    func testFilteredDeckMatchesReference() throws {
        let row = try DeckCodec.row(fromSchema11: json(Self.filtered))
        XCTAssertEqual(row.common, hexBytes("08011001"))
        XCTAssertEqual(row.kind, hexBytes("120b 0801 12021064 28d804 383c"))
        XCTAssertEqual(row.usn, -1)
        let back = try DeckCodec.schema11(from: row)
        XCTAssertTrue(back.isIdentical(to: json(Self.filtered)), back.description)
    }

    func testLimitsNestedNameAndRetention() throws {
        var o = json(Self.defaultDeck).object!
        o["name"] = "Parent::Child"
        o["reviewLimit"] = 50
        o["newLimitToday"] = json(#"{"limit":7,"today":123}"#)
        o["desiredRetention"] = 85
        let row = try DeckCodec.row(fromSchema11: .object(o))
        XCTAssertEqual(row.name, "Parent\u{1f}Child")
        XCTAssertEqual(row.kind, hexBytes("0a0f 0801 3032 4a04 0807 107b 559a99593f"))
        let back = try DeckCodec.schema11(from: row)
        XCTAssertEqual(back["name"], "Parent::Child")
        XCTAssertEqual(back["newLimitToday"], json(#"{"limit":7,"today":123}"#))
        XCTAssertEqual(back["desiredRetention"], 85)
        o["desiredRetention"] = 53
        XCTAssertEqual(try DeckCodec.schema11(from: DeckCodec.row(fromSchema11: .object(o)))["desiredRetention"], 52)
    }

    func testUnknownKeysAndMarkdown() throws {
        var o = json(Self.defaultDeck).object!
        o["zzDeck"] = 5
        o["md"] = true
        o["return"] = 1
        let row = try DeckCodec.row(fromSchema11: .object(o))
        XCTAssertEqual(row.common, hexBytes("08011001 fa0f0c") + Array(#"{"zzDeck":5}"#.utf8))
        XCTAssertEqual(try XCTUnwrap(try ProtoReader(row.kind).message(1)).bool(5), true)
        let back = try DeckCodec.schema11(from: row).object!
        XCTAssertEqual(back.keys[9...12], ["browserCollapsed", "desc", "md", "dyn"])
        XCTAssertEqual(back.keys[13], "zzDeck", "unknown keys come right after dyn")
        XCTAssertEqual(back["conf"], 1)
        XCTAssertNil(back["return"])
    }

    func testDayCountersCollapseToLatestDay() throws {
        var o = json(Self.defaultDeck).object!
        o["newToday"] = [10, 5]
        o["revToday"] = [9, 7]
        o["timeToday"] = [10, 1000]
        o["lrnToday"] = [4]
        let back = try DeckCodec.schema11(from: DeckCodec.row(fromSchema11: .object(o)))
        XCTAssertEqual(back["newToday"], [10, 5])
        XCTAssertEqual(back["revToday"], [10, 0])
        XCTAssertEqual(back["lrnToday"], [10, 0])
        XCTAssertEqual(back["timeToday"], [10, 1000])
        o["timeToday"] = [-3, -2]
        o["newToday"] = ["x", 1.5]
        o["revToday"] = []
        let row = try DeckCodec.row(fromSchema11: .object(o))
        let back2 = try DeckCodec.schema11(from: row)
        XCTAssertEqual(back2["timeToday"], [0, -2], "max(-3, 0, 0) is day 0; the time amount is always kept")
        XCTAssertEqual(back2["newToday"], [0, 0], "[\"x\", 1.5]: neither element is an integer")
    }

    func testLenientNormalKeys() throws {
        var o = json(Self.defaultDeck).object!
        o["id"] = "77"
        o["mod"] = "12"
        o["conf"] = "3"
        o["extendNew"] = -5
        o["extendRev"] = "7"
        o["reviewLimit"] = "9"
        o["newLimit"] = -1
        o["reviewLimitToday"] = json(#"{"limit":3}"#)
        o["newLimitToday"] = [4, 5]
        o["dyn"] = false
        let back = try DeckCodec.schema11(from: DeckCodec.row(fromSchema11: .object(o)))
        XCTAssertEqual(back["id"], 77)
        XCTAssertEqual(back["mod"], 12)
        XCTAssertEqual(back["conf"], 3)
        XCTAssertEqual(back["extendNew"], 0)
        XCTAssertEqual(back["extendRev"], 0)
        XCTAssertEqual(back["reviewLimit"], .null)
        XCTAssertEqual(back["newLimit"], .null)
        XCTAssertEqual(back["reviewLimitToday"], .null)
        XCTAssertEqual(back["newLimitToday"], json(#"{"limit":4,"today":5}"#))
        XCTAssertEqual(back["dyn"], 0)
    }

    func testFilteredLeniencyAndLoss() throws {
        var o = json(Self.filtered).object!
        o["dyn"] = true
        o["resched"] = "false"
        o["terms"] = json(#"[["a", "5", 2], ["b", -3, 99], ["c", 1, -1]]"#)
        o["delays"] = [1, 2.5]
        o["desc"] = "lost"
        o["md"] = true
        let row = try DeckCodec.row(fromSchema11: .object(o))
        let back = try DeckCodec.schema11(from: row)
        XCTAssertEqual(back["dyn"], 1)
        XCTAssertEqual(back["resched"], false)
        XCTAssertEqual(back["terms"], json(#"[["a", 5, 2], ["b", 0, 99], ["c", 1, -1]]"#))
        XCTAssertEqual(back["delays"], [1.0, 2.5])
        XCTAssertEqual(back["desc"], "")
        XCTAssertNil(back["md"])
        o["delays"] = []
        XCTAssertEqual(try DeckCodec.schema11(from: DeckCodec.row(fromSchema11: .object(o)))["delays"], .null)
    }

    func testHardErrors() {
        func fails(_ base: String, _ edit: (inout JSONObject) -> Void, file: StaticString = #filePath, line: UInt = #line) {
            var o = json(base).object!
            edit(&o)
            XCTAssertThrowsError(try DeckCodec.row(fromSchema11: .object(o)), file: file, line: line)
        }
        fails(Self.defaultDeck) { $0["dyn"] = nil }
        fails(Self.defaultDeck) { $0["dyn"] = "0" }
        fails(Self.defaultDeck) { $0["dyn"] = 1.0 }
        fails(Self.defaultDeck) { $0["dyn"] = -1 }
        fails(Self.defaultDeck) { $0["collapsed"] = 1 }
        fails(Self.defaultDeck) { $0["lrnToday"] = 5 }
        fails(Self.defaultDeck) { $0["conf"] = nil }
        fails(Self.defaultDeck) { $0["usn"] = 1e3 }
        fails(Self.defaultDeck) { $0["desc"] = 5 }
        fails(Self.filtered) { $0["terms"] = json(#"[["a", 1.5, 0]]"#) }
        fails(Self.filtered) { $0["terms"] = json(#"[["a", 1]]"#) }
        fails(Self.filtered) { $0["resched"] = 2 }
        fails(Self.filtered) { $0["previewDelay"] = -1 }
    }

    func testNameNormalisation() {
        XCTAssertEqual(DeckCodec.nativeName(fromHuman: "  a :: ::b:: \u{7}c ::e\u{301}"), "a\u{1f}blank\u{1f}b\u{1f}c\u{1f}é")
        XCTAssertEqual(DeckCodec.nativeName(fromHuman: "a:::b"), "a\u{1f}b")
        XCTAssertEqual(DeckCodec.nativeName(fromHuman: ""), "blank")
        XCTAssertEqual(DeckCodec.humanName(fromNative: "x\u{1f}y\u{1f}z"), "x::y::z")
    }

    func testUnknownKindIsAnError() {
        let row = DeckRow(id: 1, name: "x", mtimeSecs: 0, usn: 0, common: [], kind: [])
        XCTAssertThrowsError(try DeckCodec.schema11(from: row))
    }
}

final class CodecDeckConfigTests: XCTestCase {
    static let defaultConf = """
        {"id": 1, "mod": 0, "name": "Default", "usn": 0, "maxTaken": 60, "autoplay": true, "timer": 0,
         "replayq": true,
         "new": {"bury": false, "delays": [1.0, 10.0], "initialFactor": 2500, "ints": [1, 4, 0],
                 "order": 1, "perDay": 20},
         "rev": {"bury": false, "ease4": 1.3, "ivlFct": 1.0, "maxIvl": 36500, "perDay": 200,
                 "hardFactor": 1.2},
         "lapse": {"delays": [10.0], "leechAction": 1, "leechFails": 8, "minInt": 1, "mult": 0.0},
         "dyn": false, "newMix": 0, "newPerDayMinimum": 0, "interdayLearningMix": 0, "reviewOrder": 0,
         "newSortOrder": 0, "newGatherPriority": 0, "buryInterdayLearning": false, "fsrsWeights": [],
         "fsrsParams5": [], "fsrsParams6": [], "desiredRetention": 0.9, "ignoreRevlogsBeforeDate": "",
         "easyDaysPercentages": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "stopTimerOnAnswer": false,
         "secondsToShowQuestion": 0.0, "secondsToShowAnswer": 0.0, "questionAction": 0,
         "answerAction": 0, "waitForAudio": true, "sm2Retention": 0.9, "weightSearch": ""}
        """

    func testDefaultConfigMatchesReferenceBytesAndJSON() throws {
        let row = try DeckConfigCodec.row(fromSchema11: json(Self.defaultConf))
        XCTAssertEqual(row.config, DefaultObjects.deckConfigBlob())
        XCTAssertEqual(row.config.count, 109)
        let back = try DeckConfigCodec.schema11(from: row)
        XCTAssertTrue(back.isIdentical(to: json(Self.defaultConf)), back.description)
        XCTAssertTrue(back.description.contains(#""ease4":1.3,"#), "f32 printed shortest")
    }

    func testSubObjectFallbacks() throws {
        func roundTrip(_ edit: (inout JSONObject) -> Void) throws -> JSONValue {
            var o = json(Self.defaultConf).object!
            edit(&o)
            return try DeckConfigCodec.schema11(from: DeckConfigCodec.row(fromSchema11: .object(o)))
        }
        func setSub(_ o: inout JSONObject, _ sub: String, _ key: String, _ v: JSONValue?) {
            var s = o[sub]!.object!
            s[key] = v
            o[sub] = .object(s)
        }
        XCTAssertEqual(try roundTrip { setSub(&$0, "new", "perDay", "5") }["new"]?["perDay"], 0)
        XCTAssertEqual(try roundTrip { setSub(&$0, "new", "perDay", 33); setSub(&$0, "new", "initialFactor", nil) }["new"]?["perDay"], 20)
        XCTAssertEqual(try roundTrip { setSub(&$0, "new", "perDay", 33); setSub(&$0, "new", "initialFactor", 2500.0) }["new"]?["perDay"], 20)
        XCTAssertEqual(try roundTrip { setSub(&$0, "rev", "perDay", 300); setSub(&$0, "rev", "ease4", nil) }["rev"]?["perDay"], 200)
        XCTAssertEqual(try roundTrip { setSub(&$0, "lapse", "leechFails", 3); setSub(&$0, "lapse", "mult", nil) }["lapse"]?["leechFails"], 8)
        XCTAssertEqual(try roundTrip { setSub(&$0, "new", "ints", [3]) }["new"]?["ints"], [1, 4, 0])
        XCTAssertEqual(try roundTrip { setSub(&$0, "new", "ints", [2, 9]) }["new"]?["ints"], [2, 9, 0])
        XCTAssertEqual(try roundTrip { setSub(&$0, "new", "order", 7) }["new"]?["order"], 1)
        XCTAssertEqual(try roundTrip { setSub(&$0, "new", "order", 0) }["new"]?["order"], 0)
        XCTAssertEqual(try roundTrip { setSub(&$0, "lapse", "leechAction", 5) }["lapse"]?["leechAction"], 1)
        XCTAssertEqual(try roundTrip { setSub(&$0, "lapse", "leechAction", 0) }["lapse"]?["leechAction"], 0)
        XCTAssertEqual(try roundTrip { setSub(&$0, "rev", "hardFactor", nil) }["rev"]?["hardFactor"], 1.2)
        XCTAssertEqual(try roundTrip { $0["new"] = .null }["new"]?["delays"], [1.0, 10.0])
        XCTAssertEqual(try roundTrip { setSub(&$0, "new", "initialFactor", 2001) }["new"]?["initialFactor"], 2000)
    }

    func testTopLevelLeniencyAndRepairOnRead() throws {
        var o = json(Self.defaultConf).object!
        o["timer"] = "yes"
        o["maxTaken"] = -4
        o["dyn"] = "x"
        o["replayq"] = nil
        o["waitForAudio"] = nil
        o["desiredRetention"] = nil
        o["reviewOrder"] = 99
        o["id"] = "5"
        o["mod"] = "6"
        let row = try DeckConfigCodec.row(fromSchema11: .object(o))
        XCTAssertEqual(row.id, 5)
        XCTAssertEqual(row.mtimeSecs, 6)
        let back = try DeckConfigCodec.schema11(from: row)
        XCTAssertEqual(back["timer"], 0)
        XCTAssertEqual(back["maxTaken"], 60, "0 stored, repaired to 60 on read")
        XCTAssertEqual(back["replayq"], false)
        XCTAssertEqual(back["waitForAudio"], true)
        XCTAssertEqual(back["desiredRetention"], 0.9, "0 stored, repaired on read")
        XCTAssertEqual(back["reviewOrder"], 99)
        XCTAssertEqual(back["dyn"], false)
    }

    func testUnknownKeysNestedBySubObject() throws {
        var o = json(Self.defaultConf).object!
        o["zzConf"] = "top"
        var n = o["new"]!.object!
        n["zzNew"] = 1
        o["new"] = .object(n)
        var r = o["rev"]!.object!
        r["zzRev"] = 2
        o["rev"] = .object(r)
        let row = try DeckConfigCodec.row(fromSchema11: .object(o))
        let other = try JSON.parse(try ProtoReader(row.config).bytes(255))
        XCTAssertEqual(other, json(#"{"zzConf":"top","new":{"zzNew":1},"rev":{"zzRev":2}}"#))
        let back = try DeckConfigCodec.schema11(from: row)
        XCTAssertEqual(back, .object(o))
        XCTAssertEqual(back["new"]?.object?.keys.last, "zzNew")
        XCTAssertEqual(back.object?.keys.last, "zzConf")
    }

    func testHardErrors() {
        func fails(_ edit: (inout JSONObject) -> Void, file: StaticString = #filePath, line: UInt = #line) {
            var o = json(Self.defaultConf).object!
            edit(&o)
            XCTAssertThrowsError(try DeckConfigCodec.row(fromSchema11: .object(o)), file: file, line: line)
        }
        fails { $0["maxTaken"] = 60.0 }
        fails { $0["questionAction"] = 2 }
        fails { $0["answerAction"] = 5 }
        fails { $0["mod"] = nil }
        fails { $0["new"] = nil }
        fails { $0["autoplay"] = 1 }
        fails { $0["replayq"] = 1 }
        fails { $0["fsrsWeights"] = ["x"] }
        fails { $0["newMix"] = 1.5 }
    }

    func testFloatsAndFsrsParams() throws {
        var o = json(Self.defaultConf).object!
        let params: [JSONValue] = [0.212, 1.2931, 2.3065, 8.2956, 0.001, 0.0658]
        o["fsrsParams6"] = .array(params)
        o["secondsToShowQuestion"] = 2.5
        o["sm2Retention"] = 0.85
        let back = try DeckConfigCodec.schema11(from: DeckConfigCodec.row(fromSchema11: .object(o)))
        XCTAssertEqual(back["fsrsParams6"], .array(params))
        XCTAssertEqual(back["secondsToShowQuestion"], 2.5)
        XCTAssertEqual(back["sm2Retention"], 0.85)
    }
}
