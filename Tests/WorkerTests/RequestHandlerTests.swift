import Foundation
import Shared
import XCTest
@testable import Worker

/// `meta`, the normal-sync session rules and `abort`, served through in-memory connections.
final class RequestHandlerTests: XCTestCase {
    static let startBody = #"{"minUsn":0,"lnewer":false,"graves":null}"#
    static let emptyChanges = #"{"changes":{"models":[],"decks":[[],[]],"tags":[]}}"#

    func testMetaForNewUserCreatesTheCollection() throws {
        let worker = try WorkerHarness(self)
        let r = worker.v11("meta", json: #"{"v":11,"cv":"unit"}"#)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertTrue(r.isCompressed)
        let meta = try r.json()
        XCTAssertEqual(meta["mod"] as? Int, 0)
        XCTAssertEqual(meta["usn"] as? Int, 0)
        XCTAssertEqual(meta["empty"] as? Bool, true)
        XCTAssertEqual(meta["cont"] as? Bool, true)
        XCTAssertEqual(meta["media_usn"] as? Int, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: worker.folder + "/collection.anki2"))
    }

    func testMetaForExistingUserReportsTheFinishedSync() throws {
        let worker = try WorkerHarness(self)
        XCTAssertEqual(worker.v11("start", json: Self.startBody, skey: "s1").status, 200)
        XCTAssertEqual(worker.v11("applyChanges", json: Self.emptyChanges, skey: "s1").status, 200)
        let finish = worker.v11("finish", json: "{}", skey: "s1")
        XCTAssertEqual(finish.status, 200, finish.text)
        let finishedAt = try XCTUnwrap(Int(finish.text))
        let meta = try worker.v11("meta", json: #"{"v":11,"cv":"unit"}"#).json()
        XCTAssertEqual(meta["usn"] as? Int, 1)
        XCTAssertEqual(meta["mod"] as? Int, finishedAt)
    }

    func testStepWithoutSessionIs409() throws {
        let worker = try WorkerHarness(self)
        XCTAssertEqual(worker.v11("applyChanges", json: Self.emptyChanges, skey: "s1").status, 409)
        XCTAssertEqual(worker.v11("finish", json: "{}", skey: "s1").status, 409)
    }

    func testStepOfAnotherSessionIs409() throws {
        let worker = try WorkerHarness(self)
        XCTAssertEqual(worker.v11("start", json: Self.startBody, skey: "s1").status, 200)
        XCTAssertEqual(worker.v11("applyChanges", json: Self.emptyChanges, skey: "other").status, 409)
        // The open session is not disturbed by the stranger.
        XCTAssertEqual(worker.v11("applyChanges", json: Self.emptyChanges, skey: "s1").status, 200)
    }

    func testMissingSessionKeyIs400() throws {
        let worker = try WorkerHarness(self)
        XCTAssertEqual(worker.v11("start", json: Self.startBody, skey: "").status, 400)
        XCTAssertEqual(worker.v11("start", json: Self.startBody, skey: "s1").status, 200)
        XCTAssertEqual(worker.v11("applyChanges", json: Self.emptyChanges, skey: "").status, 400)
    }

    func testAbortAndFinishEndTheSession() throws {
        let worker = try WorkerHarness(self)
        XCTAssertEqual(worker.v11("start", json: Self.startBody, skey: "s1").status, 200)
        let abort = worker.v11("abort", json: #"{"_pad":null}"#)
        XCTAssertEqual(abort.status, 200)
        XCTAssertEqual(abort.text, "null")
        XCTAssertEqual(worker.v11("applyChanges", json: Self.emptyChanges, skey: "s1").status, 409)
        XCTAssertEqual(worker.v11("start", json: Self.startBody, skey: "s2").status, 200)
        XCTAssertEqual(worker.v11("finish", json: "{}", skey: "s2").status, 200)
        XCTAssertEqual(worker.v11("finish", json: "{}", skey: "s2").status, 409)
    }

    func testBadStepDataIs400AndRollsBack() throws {
        let worker = try WorkerHarness(self)
        XCTAssertEqual(worker.v11("start", json: Self.startBody, skey: "s1").status, 200)
        let r = worker.v11("applyChanges", json: #"{"changes":"nope"}"#, skey: "s1")
        XCTAssertEqual(r.status, 400)
        XCTAssertTrue(r.text.contains("applyChanges"), r.text)
        XCTAssertEqual(worker.v11("finish", json: "{}", skey: "s1").status, 409, "the failed step dropped the session")
    }

    /// The reference refuses `abort` and `download` bodies that are not an empty input.
    func testAbortAndDownloadWithInvalidJSONAre400() throws {
        let worker = try WorkerHarness(self)
        for method in ["abort", "download"] {
            for body in ["{not json", #"{"unexpected":1}"#, ""] {
                let r = worker.v11(method, json: body)
                XCTAssertEqual(r.status, 400, "\(method) \(body)")
                XCTAssertFalse(r.isCompressed)
            }
            for body in ["{}", #"{"_pad":null}"#, "[]"] {
                XCTAssertEqual(worker.v11(method, json: body).status, 200, "\(method) \(body)")
            }
        }
    }

    func testMetaBadBodies() throws {
        let worker = try WorkerHarness(self)
        XCTAssertEqual(worker.v11("meta", json: "{not json").status, 400)
        XCTAssertEqual(worker.v11("meta", json: #"{"v":"11"}"#).status, 400)
        XCTAssertEqual(worker.v11("meta", json: #"{"v":7}"#).status, 501)
        XCTAssertEqual(worker.v11("meta", Array("not zstd".utf8), raw: true).status, 400)
    }
}
