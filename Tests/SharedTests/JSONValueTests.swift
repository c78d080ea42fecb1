import XCTest
@testable import Shared

final class JSONValueTests: XCTestCase {
    private func text(_ v: JSONValue) -> String { String(decoding: JSON.serialize(v), as: UTF8.self) }
    private func roundTrip(_ s: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        text(try JSON.parse(s))
    }

    func testScalarsAndCompactOutput() throws {
        XCTAssertEqual(try JSON.parse("null"), .null)
        XCTAssertEqual(try JSON.parse(" true "), .bool(true))
        XCTAssertEqual(try JSON.parse("false"), .bool(false))
        XCTAssertEqual(try JSON.parse("\"x\""), .string("x"))
        XCTAssertEqual(try roundTrip("{ \"a\" : [ 1 , 2.5 , \"s\" , null , true ] ,\n\"b\":{}}"),
                       #"{"a":[1,2.5,"s",null,true],"b":{}}"#)
        XCTAssertEqual(try roundTrip("[]"), "[]")
    }

    func testIntegersStayExact() throws {
        XCTAssertEqual(try JSON.parse("9223372036854775807"), .int(Int64.max))
        XCTAssertEqual(try JSON.parse("-9223372036854775808"), .int(Int64.min))
        // field/template ids beyond 2^53 must not go through Double
        XCTAssertEqual(try JSON.parse("-5451527555416091613"), .int(-5451527555416091613))
        XCTAssertEqual(try JSON.parse("9007199254740993"), .int(9007199254740993))
        XCTAssertEqual(try roundTrip("[9007199254740993,-3770790342052105552]"), "[9007199254740993,-3770790342052105552]")
        // beyond Int64: double (serde_json would keep u64; documented deviation)
        XCTAssertEqual(try JSON.parse("9223372036854775808"), .double(9223372036854775808.0))
        XCTAssertEqual(try JSON.parse("-9223372036854775809"), .double(-9223372036854775809.0))
        XCTAssertEqual(try JSON.parse("100000000000000000000000"), .double(1e23))
        // with fraction or exponent: double
        XCTAssertEqual(try JSON.parse("5.0"), .double(5))
        XCTAssertEqual(try JSON.parse("5e0"), .double(5))
        XCTAssertEqual(try JSON.parse("-0"), .double(-0.0))
        XCTAssertEqual(try JSON.parse("0"), .int(0))
    }

    func testDoublesSerializeLikeSerdeJson() throws {
        let cases: [(Double, String)] = [
            (0.9, "0.9"), (1e-7, "1e-7"), (2.0, "2.0"), (10.0, "10.0"), (-1.5, "-1.5"), (0.0, "0.0"),
            (-0.0, "-0.0"), (1e15, "1000000000000000.0"), (1e16, "1e16"), (1.5e300, "1.5e300"),
            (123456.789, "123456.789"), (0.0001, "0.0001"), (0.00001, "0.00001"), (0.000001, "1e-6"),
            (Double.leastNonzeroMagnitude, "5e-324"), (1.7976931348623157e308, "1.7976931348623157e308"),
            (1.2999999523162842, "1.2999999523162842"), (1.25e-5, "0.0000125"), (1.5e16, "1.5e16"),
            (.infinity, "null"), (.nan, "null"), (-.infinity, "null"),
        ]
        for (d, s) in cases { XCTAssertEqual(text(.double(d)), s, "\(d)") }
        for s in ["0.1", "0.3", "1e-7", "2.5e-8", "3.14159", "6.02214076e23", "1e300", "0.30000000000000004"] {
            let v = try JSON.parse(s)
            XCTAssertEqual(try JSON.parse(text(v)), v, s)
        }
        XCTAssertEqual(String(decoding: JSON.serializeFloat32(1.3), as: UTF8.self), "1.3")
        XCTAssertEqual(String(decoding: JSON.serializeFloat32(0.000001), as: UTF8.self), "0.000001")
    }

    func testStringEscapesLikeSerdeJson() throws {
        XCTAssertEqual(text(.string("a\"b\\c\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}/é😀\u{2028}")),
                       "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}/é😀\u{2028}\"")
        XCTAssertEqual(try JSON.parse(#""\u00e9\ud83d\ude00\/\u0041\"""#), .string("é😀/A\""))
        XCTAssertEqual(try JSON.parse(#""\uD83D\uDE00""#), .string("😀"))
        XCTAssertEqual(try JSON.parse(Array("\"é😀\"".utf8)), .string("é😀"))
    }

    func testObjectsKeepOrderAndLastDuplicateWins() throws {
        let v = try JSON.parse(#"{"z":1,"a":2,"z":3}"#)
        XCTAssertEqual(text(v), #"{"z":3,"a":2}"#)
        guard case .object(var o) = v else { return XCTFail() }
        XCTAssertEqual(o.keys, ["z", "a"])
        o["b"] = .int(4)
        o["z"] = .null
        XCTAssertEqual(o.keys, ["z", "a", "b"])
        XCTAssertEqual(o["z"], .null)
        o["a"] = nil
        XCTAssertEqual(o.keys, ["z", "b"])
        // equality ignores order; isIdentical does not
        let a = JSONObject([("x", 1), ("y", 2)]), b = JSONObject([("y", 2), ("x", 1)])
        XCTAssertEqual(a, b)
        XCTAssertFalse(a.isIdentical(to: b))
        XCTAssertNotEqual(a, JSONObject([("x", 1)]))
        XCTAssertNotEqual(a, JSONObject([("x", 1), ("y", 3)]))
        XCTAssertEqual(JSONObject([("k", 1), ("k", 2)]).entries.count, 1)
        XCTAssertEqual(JSONObject([("k", 1), ("k", 2)])["k"], .int(2))
    }

    func testErrorsCarryOffsets() {
        let bad: [(String, Int)] = [
            ("", 0), ("01", 0), ("1.", 0), (".5", 0), ("+1", 0), ("[1,]", 3), ("{\"a\":1,}", 7),
            ("{\"a\" 1}", 5), ("{a:1}", 1), ("[1 2]", 3), ("\"abc", 0), ("\"a\u{1}\"", 2),
            ("\"\\x\"", 1), ("\"\\ud800\"", 1), ("\"\\udc00\"", 1), ("\"\\u12\"", 3), ("tru", 0),
            ("nul", 0), ("1e400", 0), ("-", 0), ("1e", 0), ("[1] 2", 4), ("NaN", 0), ("[", 1),
        ]
        for (s, offset) in bad {
            XCTAssertThrowsError(try JSON.parse(s), s) { e in
                XCTAssertEqual((e as? JSONError)?.offset, offset, "\(s): \(e)")
                XCTAssertTrue("\(e)".contains("byte"), "\(e)")
            }
        }
        // invalid UTF-8 inside a string
        XCTAssertThrowsError(try JSON.parse([0x22, 0xC3, 0x28, 0x22]))
        XCTAssertThrowsError(try JSON.parse([0x22, 0xED, 0xA0, 0x80, 0x22]))  // encoded surrogate
        XCTAssertThrowsError(try JSON.parse([0x22, 0xC0, 0xAF, 0x22]))  // overlong
    }

    func testDepthLimit() throws {
        let ok = String(repeating: "[", count: 256) + String(repeating: "]", count: 256)
        XCTAssertNoThrow(try JSON.parse(ok))
        let tooDeep = String(repeating: "[", count: 257) + String(repeating: "]", count: 257)
        XCTAssertThrowsError(try JSON.parse(tooDeep))
        let objects = String(repeating: "{\"a\":", count: 300) + "1" + String(repeating: "}", count: 300)
        XCTAssertThrowsError(try JSON.parse(objects))
    }

    func testLenientAccessors() throws {
        XCTAssertEqual(JSONValue.int(5).int64, 5)
        XCTAssertEqual(JSONValue.double(5.0).int64, 5)
        XCTAssertNil(JSONValue.double(5.5).int64)
        XCTAssertNil(JSONValue.double(1e30).int64)
        XCTAssertEqual(JSONValue.string("-12").int64, -12)
        XCTAssertEqual(JSONValue.string("9223372036854775807").int64, Int64.max)
        XCTAssertNil(JSONValue.string("x").int64)
        XCTAssertNil(JSONValue.bool(true).int64)
        XCTAssertEqual(JSONValue.int(2).double, 2.0)
        XCTAssertEqual(JSONValue.string("0.5").double, 0.5)
        XCTAssertEqual(JSONValue.bool(true).bool, true)
        XCTAssertNil(JSONValue.int(1).bool)
        XCTAssertEqual(JSONValue.string("s").string, "s")
        XCTAssertEqual(JSONValue.array([1]).array, [1])
        let v: JSONValue = ["a": 1, "b": [true, nil, "x", 1.5]]
        XCTAssertEqual(v["a"], 1)
        XCTAssertNil(v["zz"])
        XCTAssertEqual(v.object?.keys, ["a", "b"])
        XCTAssertEqual(v.description, #"{"a":1,"b":[true,null,"x",1.5]}"#)
    }

    func testLargeDocumentRoundTrip() throws {
        var items: [JSONValue] = []
        for i in 0..<5000 {
            items.append(.array([.int(Int64(i) * 1_000_003 - 7), .string("n\u{1f}\(i)"), .double(Double(i) / 7), .null]))
        }
        let doc = JSONValue.object(JSONObject([("notes", .array(items))]))
        let bytes = JSON.serialize(doc)
        XCTAssertEqual(try JSON.parse(bytes), doc)
        XCTAssertEqual(JSON.serialize(try JSON.parse(bytes)), bytes)
    }
}
