import Foundation
import Shared
import XCTest
@testable import Worker

/// Framing and failures around the handlers: keep-alive, legacy forms, another user's key,
/// body caps, media refusals, internal errors.
final class RequestDispatcherTests: XCTestCase {
    func testKeepAliveHandsBackTheNextRequest() throws {
        let worker = try WorkerHarness(self)
        let first = WorkerHarness.v11Request("meta", Array(#"{"v":11}"#.utf8))
        let second = WorkerHarness.v11Request("abort", Array("{}".utf8))
        let result = worker.serve(first + second)
        XCTAssertEqual(result.responses.map(\.status), [200])
        XCTAssertEqual(result.outcome, .keepAlive(leftover: second))
        // Read in small pieces: what was read past the response goes back, the rest stays unread.
        let pieces = worker.serve(first + second, maxRead: 5)
        XCTAssertEqual(pieces.responses.map(\.status), [200])
        guard case .keepAlive(let leftover) = pieces.outcome else { return XCTFail("\(pieces.outcome)") }
        XCTAssertEqual(leftover + pieces.unread, second)
    }

    func testConnectionCloseIsHonoured() throws {
        let worker = try WorkerHarness(self)
        let result = worker.serve(WorkerHarness.v11Request("meta", Array(#"{"v":11}"#.utf8), keepAlive: false))
        XCTAssertEqual(result.responses.first?.status, 200)
        XCTAssertEqual(result.outcome, .close)
    }

    func testAnotherUsersKeyIs403() throws {
        let worker = try WorkerHarness(self)
        let result = worker.serve(WorkerHarness.v11Request("meta", Array(#"{"v":11}"#.utf8), hostKey: String(repeating: "f", count: 40)))
        XCTAssertEqual(result.responses.map(\.status), [403])
        XCTAssertEqual(result.outcome, .close)
        XCTAssertFalse(FileManager.default.fileExists(atPath: worker.folder + "/collection.anki2"), "nothing was opened")
    }

    func testTruncatedBodyClosesWithoutAnswer() throws {
        let worker = try WorkerHarness(self)
        let request = WorkerHarness.v11Request("meta", Array(#"{"v":11}"#.utf8))
        let result = worker.serve(Array(request.dropLast(3)))
        XCTAssertEqual(result.outcome, .close)
        XCTAssertTrue(result.responses.isEmpty)
    }

    func testLegacyFormIsAnsweredUncompressed() throws {
        let worker = try WorkerHarness(self)
        let result = worker.serve(WorkerHarness.legacyRequest("meta", data: Array(#"{"v":10,"cv":"ankidesktop,2.1.50,lin:10"}"#.utf8)))
        let r = try XCTUnwrap(result.responses.first)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertFalse(r.isCompressed)
        XCTAssertEqual(try r.json()["usn"] as? Int, 0)
        let stranger = worker.serve(WorkerHarness.legacyRequest("meta", data: Array("{}".utf8), hostKey: "nobody"))
        XCTAssertEqual(stranger.responses.map(\.status), [403])
    }

    func testSmallMethodsAreCappedAndNameTheLimit() throws {
        let worker = try WorkerHarness(self)
        let padding = String(repeating: "x", count: RequestLimits.smallBodyBytes)
        for method in ["meta", "abort", "finish", "download"] {
            let r = worker.v11(method, json: #"{"v":11,"pad":"\#(padding)"}"#, skey: "s1")
            XCTAssertEqual(r.status, 400, method)
            XCTAssertTrue(r.text.contains("\(RequestLimits.smallBodyBytes) bytes"), r.text)
        }
    }

    func testObjectMethodsKeepThePayloadLimit() throws {
        let worker = try WorkerHarness(self)
        // Older clients send their graves with `start`: far more than the small cap.
        let ids = (1...20_000).map { String(1_600_000_000_000 + $0) }.joined(separator: ",")
        let start = #"{"minUsn":0,"lnewer":false,"graves":{"cards":[\#(ids)],"notes":[],"decks":[]}}"#
        XCTAssertGreaterThan(start.utf8.count, RequestLimits.smallBodyBytes)
        XCTAssertEqual(worker.v11("start", json: start, skey: "s1").status, 200)
    }

    func testMediaRefusals() throws {
        let worker = try WorkerHarness(self)
        XCTAssertEqual(worker.v11("begin", json: "{}", area: "msync").status, 400, "begin without a client version")
        let begin = worker.v11("begin", json: #"{"v":"anki,26.09.3,linux"}"#, area: "msync")
        XCTAssertEqual(begin.status, 200)
        let upload = worker.v11("uploadChanges", Array("not a zip".utf8), area: "msync")
        XCTAssertEqual(upload.status, 400)
        XCTAssertTrue(upload.text.contains("upload refused"), upload.text)
        XCTAssertEqual(worker.v11("uploadChanges", Array("not zstd".utf8), raw: true, area: "msync").status, 400)
    }

    /// A server fault answers 500 with an id, never paths or SQL; the detail is for the log.
    func testInternalErrorsHideTheirDetail() throws {
        let worker = try WorkerHarness(self)
        try FileManager.default.createDirectory(atPath: worker.folder + "/collection.anki2", withIntermediateDirectories: false)
        let r = worker.v11("meta", json: #"{"v":11}"#)
        XCTAssertEqual(r.status, 500)
        XCTAssertNotNil(r.text.range(of: #"^internal error [0-9a-f]{8}$"#, options: .regularExpression), r.text)
        XCTAssertFalse(r.text.contains(worker.folder))
    }

    func testUnknownMethodIs400() throws {
        let worker = try WorkerHarness(self)
        let result = worker.serve(WorkerHarness.v11Request("nonsense", Array("{}".utf8)))
        XCTAssertEqual(result.responses.map(\.status), [400])
        XCTAssertEqual(result.outcome, .close)
    }
}
