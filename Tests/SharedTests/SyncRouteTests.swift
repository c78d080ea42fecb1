import Foundation
import XCTest
@testable import Shared

final class SyncRouteTests: XCTestCase {
    func resolve(_ method: String, _ path: String, file: StaticString = #filePath, line: UInt = #line) -> SyncRoute? {
        do { return try SyncRoute.resolve(method: method, path: path[...]) } catch {
            XCTFail("\(method) \(path) refused: \(error.status) \(error.reason)", file: file, line: line)
            return nil
        }
    }

    func failure(_ method: String, _ path: String, file: StaticString = #filePath, line: UInt = #line) -> HTTPError? {
        do {
            let route = try SyncRoute.resolve(method: method, path: path[...])
            XCTFail("\(method) \(path) resolved to \(route)", file: file, line: line)
            return nil
        } catch { return error }
    }

    func testEverySyncMethod() {
        let names = ["hostKey", "meta", "start", "applyGraves", "applyChanges", "chunk", "applyChunk",
                     "sanityCheck2", "finish", "abort", "upload", "download"]
        XCTAssertEqual(SyncMethod.allCases.map(\.rawValue), names)
        for m in SyncMethod.allCases {
            XCTAssertEqual(resolve("POST", "/sync/\(m.rawValue)"), .sync(m))
        }
    }

    func testEveryMediaMethod() {
        let names = ["begin", "mediaChanges", "uploadChanges", "downloadFiles", "mediaSanity"]
        XCTAssertEqual(MediaMethod.allCases.map(\.rawValue), names)
        for m in MediaMethod.allCases {
            XCTAssertEqual(resolve("POST", "/msync/\(m.rawValue)"), .media(m))
        }
    }

    func testHealth() {
        XCTAssertEqual(resolve("GET", "/health"), .health)
        XCTAssertEqual(resolve("HEAD", "/health"), .health)
        XCTAssertEqual(failure("POST", "/health")?.status, 405)
    }

    func testUnknownSyncMethodListsValidOnes() throws {
        let f = try XCTUnwrap(failure("POST", "/sync/metaa"))
        XCTAssertEqual(f.status, 400)
        XCTAssertTrue(f.reason.contains("metaa"), f.reason)
        for m in SyncMethod.allCases { XCTAssertTrue(f.reason.contains(m.rawValue), "\(m) missing from \(f.reason)") }
    }

    func testUnknownMediaMethodListsValidOnes() throws {
        let f = try XCTUnwrap(failure("POST", "/msync/bogus"))
        XCTAssertEqual(f.status, 400)
        XCTAssertTrue(f.reason.contains("bogus"), f.reason)
        for m in MediaMethod.allCases { XCTAssertTrue(f.reason.contains(m.rawValue), "\(m) missing from \(f.reason)") }
    }

    func testMethodNamesAreCaseSensitive() {
        XCTAssertEqual(failure("POST", "/sync/Meta")?.status, 400)
        XCTAssertEqual(failure("POST", "/sync/hostkey")?.status, 400)
        XCTAssertEqual(failure("POST", "/msync/Begin")?.status, 400)
        XCTAssertEqual(failure("POST", "/sync/")?.status, 400)
    }

    func testUnknownMethodBeatsWrongVerb() {
        // The reference answers 400 for an unknown method whatever the verb.
        XCTAssertEqual(failure("GET", "/sync/nope")?.status, 400)
    }

    func testWrongVerb() {
        for verb in ["GET", "PUT", "DELETE", "HEAD", "post"] {
            XCTAssertEqual(failure(verb, "/sync/meta")?.status, 405, verb)
            XCTAssertEqual(failure(verb, "/msync/mediaChanges")?.status, 405, verb)
        }
        XCTAssertEqual(failure("PUT", "/msync/begin")?.status, 405)
    }

    func testLegacyGetBeginAllowed() {
        XCTAssertEqual(resolve("GET", "/msync/begin"), .media(.begin))
    }

    func testPrefixes() {
        XCTAssertEqual(resolve("POST", "/anki/sync/meta"), .sync(.meta))
        XCTAssertEqual(resolve("POST", "/a/b/c/msync/downloadFiles"), .media(.downloadFiles))
        XCTAssertEqual(resolve("GET", "/anki/msync/begin"), .media(.begin))
        XCTAssertEqual(resolve("POST", "//sync/upload"), .sync(.upload))
    }

    func testMethodNames() {
        XCTAssertEqual(SyncRoute.sync(.meta).methodName, "meta")
        XCTAssertEqual(SyncRoute.media(.begin).methodName, "msync/begin")
        XCTAssertEqual(SyncRoute.health.methodName, "health")
    }

    func testNotFound() {
        for path in ["/", "", "/sync", "/msync", "/meta", "/favicon.ico", "/sync/meta/", "/other/meta",
                     "/sync/meta/extra", "/healthz", "/health/", "/SYNC/meta", "/syncx/meta"] {
            XCTAssertEqual(failure("POST", path)?.status, 404, path)
        }
        XCTAssertEqual(failure("GET", "/index.html")?.status, 404)
    }
}

final class SyncHeaderTests: XCTestCase {
    func parse(_ value: String, file: StaticString = #filePath, line: UInt = #line) -> SyncHeader? {
        do { return try SyncHeader(parsing: value) } catch {
            XCTFail("refused \(value): \(error)", file: file, line: line)
            return nil
        }
    }

    func assertRefused(_ value: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let h = try SyncHeader(parsing: value)
            XCTFail("accepted \(value) as \(h)", file: file, line: line)
        } catch {
            XCTAssertEqual(error.status, 400, file: file, line: line)
        }
    }

    func testValid() {
        let h = parse(#"{"v":11,"k":"579e7fa764f43a98d0fa5a30dcd5401f868bbe6d","c":"26.09.3,29bb700b,linux","s":"c74EFs"}"#)
        XCTAssertEqual(h, SyncHeader(version: 11, hostKey: "579e7fa764f43a98d0fa5a30dcd5401f868bbe6d",
                                     clientVersion: "26.09.3,29bb700b,linux", sessionKey: "c74EFs"))
    }

    func testLoginHeaderHasEmptyKey() {
        XCTAssertEqual(parse(#"{"v":11,"k":"","c":"x","s":"y"}"#)?.hostKey, "")
    }

    func testVersionRange() {
        for v in 8...11 { XCTAssertEqual(parse(#"{"v":\#(v),"k":"a","c":"","s":""}"#)?.version, v) }
        for v in [7, 12, 0, -11, 100] { assertRefused(#"{"v":\#(v),"k":"a","c":"","s":""}"#) }
    }

    func testMissingOrWrongTypeFieldsRefused() {
        assertRefused(#"{"v":11,"c":"x","s":"y"}"#)
        assertRefused(#"{"k":"a","c":"x","s":"y"}"#)
        assertRefused(#"{"v":true,"k":"a","c":"x","s":"y"}"#)
        assertRefused(#"{"v":"11","k":"a","c":"x","s":"y"}"#)
        assertRefused(#"{"v":11,"k":5,"c":"x","s":"y"}"#)
        assertRefused(#"{"v":11,"k":null,"c":"x","s":"y"}"#)
    }

    func testMissingClientAndSessionTolerated() {
        XCTAssertEqual(parse(#"{"v":11,"k":"abc"}"#), SyncHeader(version: 11, hostKey: "abc", clientVersion: "", sessionKey: ""))
        XCTAssertEqual(parse(#"{"v":10,"k":"abc","s":"sk"}"#)?.sessionKey, "sk")
    }

    func testUnknownKeysIgnored() {
        XCTAssertEqual(parse(#"{"v":11,"k":"abc","c":"x","s":"y","extra":[1,2]}"#)?.hostKey, "abc")
    }

    func testNotJSONRefused() {
        assertRefused("")
        assertRefused("v=11")
        assertRefused("[11, \"k\"]")
        assertRefused("11")
        assertRefused(#"{"v":11,"k":"abc""#)
        assertRefused("null")
    }
}
