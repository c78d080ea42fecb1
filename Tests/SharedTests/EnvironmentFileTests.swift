import Foundation
import XCTest
@testable import Shared

final class EnvironmentFileTests: XCTestCase {
    func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [String: String] {
        do { return try EnvironmentFile.parse(text) } catch {
            XCTFail("unexpected refusal: \(error)", file: file, line: line)
            return [:]
        }
    }

    func refusal(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> ConfigError? {
        do {
            let result = try EnvironmentFile.parse(text)
            XCTFail("expected a refusal, got \(result)", file: file, line: line)
            return nil
        } catch { return error }
    }

    func testPlainAssignments() {
        XCTAssertEqual(parse("SYNC_USER1=alice:pw\nSYNC_PORT=8081\n"), ["SYNC_USER1": "alice:pw", "SYNC_PORT": "8081"])
    }

    func testEmptyFile() {
        XCTAssertEqual(parse(""), [:])
        XCTAssertEqual(parse("\n\n   \n\t\n"), [:])
    }

    func testCommentsAndBlankLines() {
        let text = """
            # a comment
            ; another comment

               # indented comment
            A=1

            B=2
            """
        XCTAssertEqual(parse(text), ["A": "1", "B": "2"])
    }

    func testValueKeepsHashAndEquals() {
        // Only whole-line comments exist; '#' and '=' inside a value are data.
        XCTAssertEqual(parse("SYNC_USER1=bob:pa#ss=word"), ["SYNC_USER1": "bob:pa#ss=word"])
    }

    func testWhitespaceAroundKeyAndValueTrimmed() {
        XCTAssertEqual(parse("  KEY  =  value with inner space  "), ["KEY": "value with inner space"])
    }

    func testQuotes() {
        XCTAssertEqual(parse("A=\"double quoted\""), ["A": "double quoted"])
        XCTAssertEqual(parse("A='single quoted'"), ["A": "single quoted"])
        XCTAssertEqual(parse("A=\"with \\\"escaped\\\" quote and \\\\ backslash\""), ["A": "with \"escaped\" quote and \\ backslash"])
        // Single quotes keep backslashes literally.
        XCTAssertEqual(parse("A='a\\\"b'"), ["A": "a\\\"b"])
        // Unbalanced or mismatched quotes are kept as written.
        XCTAssertEqual(parse("A=\"open"), ["A": "\"open"])
        XCTAssertEqual(parse("A=\"mixed'"), ["A": "\"mixed'"])
        XCTAssertEqual(parse("A=\"\""), ["A": ""])
        XCTAssertEqual(parse("A=\""), ["A": "\""])
    }

    func testExportPrefix() {
        XCTAssertEqual(parse("export SYNC_USER1=alice:pw\nexport   B=2"), ["SYNC_USER1": "alice:pw", "B": "2"])
    }

    func testEmptyValue() {
        XCTAssertEqual(parse("PASSWORDS_HASHED="), ["PASSWORDS_HASHED": ""])
    }

    func testLaterAssignmentWins() {
        XCTAssertEqual(parse("A=1\nA=2"), ["A": "2"])
    }

    func testCRLFLineEndings() {
        // Files edited on Windows: each line ends in CR LF.
        XCTAssertEqual(parse("SYNC_USER1=alice:pw\r\nSYNC_PORT=8081\r\n# c\r\n\r\nB='x'\r\n"),
                       ["SYNC_USER1": "alice:pw", "SYNC_PORT": "8081", "B": "x"])
    }

    func testInvalidLinesRejectedWithLineNumber() {
        XCTAssertEqual(refusal("A=1\njust some words\n")?.variable, "line 2")
        XCTAssertEqual(refusal("=value")?.variable, "line 1")
        XCTAssertEqual(refusal("A=1\n\n# c\nBAD-NAME=1")?.variable, "line 4")
        XCTAssertEqual(refusal("A B=1")?.variable, "line 1")
        XCTAssertEqual(refusal("export")?.variable, "line 1")
    }
}
