import Foundation
import XCTest
@testable import Shared

final class LogTests: XCTestCase {
    let ts = "2026-01-02T03:04:05.678Z"

    func testTextRendering() {
        let log = Log(format: .text, process: "worker:alice")
        XCTAssertEqual(log.render(.info, "request", ["method": "meta", "status": 200, "ok": .bool(true)], timestamp: ts),
                       "2026-01-02T03:04:05.678Z INFO worker:alice request method=meta status=200 ok=true")
        XCTAssertEqual(log.render(.warn, "slow", [:], timestamp: ts), "2026-01-02T03:04:05.678Z WARN worker:alice slow")
        XCTAssertEqual(log.render(.error, "x", [:], timestamp: ts), "2026-01-02T03:04:05.678Z ERROR worker:alice x")
    }

    func testTextQuotesValuesThatWouldBreakTheLine() {
        let log = Log(format: .text, process: "supervisor")
        let line = log.render(.info, "e", ["a": "two words", "b": "say \"hi\"", "c": "k=v", "d": "", "e": "line\nbreak", "f": "back\\slash"],
                              timestamp: ts)
        XCTAssertEqual(line, #"2026-01-02T03:04:05.678Z INFO supervisor e a="two words" b="say \"hi\"" c="k=v" d="" e="line\nbreak" f=back\slash"#)
        XCTAssertFalse(line.contains("\n"), "one event is one line")
        XCTAssertEqual(log.render(.info, "e", ["crlf": "a\r\nb", "tab": "a\tb"], timestamp: ts),
                       #"2026-01-02T03:04:05.678Z INFO supervisor e crlf="a\r\nb" tab="a\tb""#)
    }

    func testJSONRendering() throws {
        let log = Log(format: .json, process: "worker:alice")
        let line = log.render(.warn, "request", ["method": "meta", "status": 200, "big": .of(Int64.max), "ok": .bool(false)], timestamp: ts)
        XCTAssertEqual(line, #"{"ts":"2026-01-02T03:04:05.678Z","level":"warn","proc":"worker:alice","event":"request","method":"meta","status":200,"big":9223372036854775807,"ok":false}"#)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(object["status"] as? Int, 200)
        XCTAssertEqual(object["level"] as? String, "warn")
    }

    func testJSONEscaping() throws {
        let log = Log(format: .json, process: "p\"q")
        let nasty = "quote \" backslash \\ newline \n cr \r tab \t nul \u{0} esc \u{1B} del \u{7F} é 🚀"
        let line = log.render(.error, "ev\nent", ["we\"ird key": .string(nasty)], timestamp: ts)
        XCTAssertFalse(line.contains("\n"))
        XCTAssertTrue(line.contains(#"quote \" backslash \\ newline \n cr \r tab \t nul \u0000 esc \u001b del"#), line)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(object["we\"ird key"] as? String, nasty)
        XCTAssertEqual(object["event"] as? String, "ev\nent")
        XCTAssertEqual(object["proc"] as? String, "p\"q")
        XCTAssertEqual(object["level"] as? String, "error")
    }

    func testValueForms() {
        XCTAssertEqual(LogValue.of(-5).description, "-5")
        XCTAssertEqual(LogValue.of(Int32(7)).description, "7")
        XCTAssertEqual(LogValue.of("plain").description, "plain")
        XCTAssertEqual(LogValue.of("has space").description, "\"has space\"")
        XCTAssertEqual(LogValue.string("x").jsonForm, "\"x\"")
        XCTAssertEqual(LogValue.bool(true).jsonForm, "true")
    }

    func testTimestampFormat() throws {
        let stamp = Log.timestamp()
        let regex = try NSRegularExpression(pattern: #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"#)
        XCTAssertEqual(regex.numberOfMatches(in: stamp, range: NSRange(stamp.startIndex..., in: stamp)), 1, stamp)
        // Agrees with the wall clock to within a few seconds.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = try XCTUnwrap(formatter.date(from: stamp))
        XCTAssertLessThan(abs(date.timeIntervalSinceNow), 5)
        XCTAssertLessThan(abs(Double(WallClock.nowMillis()) / 1000 - Date().timeIntervalSince1970), 5)
    }

    func testMonotonicClockAdvances() {
        let a = WallClock.monotonic()
        usleep(2000)
        XCTAssertGreaterThan(WallClock.monotonic(), a)
    }
}
