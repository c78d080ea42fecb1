import Dispatch
import Foundation
import Shared
import XCTest
@testable import Worker

/// Full upload refusals and the full download, served through in-memory connections.
final class FullSyncHandlerTests: XCTestCase {
    private func storedBytes(_ worker: WorkerHarness) throws -> Data {
        worker.context.store.close()
        return try Data(contentsOf: URL(fileURLWithPath: worker.folder + "/collection.anki2"))
    }

    func testUploadThatIsNotZstdIs400AndKeepsTheCollection() throws {
        let worker = try WorkerHarness(self)
        XCTAssertEqual(worker.v11("meta", json: #"{"v":11}"#).status, 200)
        let before = try storedBytes(worker)
        let r = worker.v11("upload", Array("SQLite format 3\0 but not compressed".utf8), raw: true)
        XCTAssertEqual(r.status, 400, r.text)
        XCTAssertFalse(r.isCompressed)
        XCTAssertEqual(try storedBytes(worker), before)
    }

    func testUploadOfGarbageIsCorruptAndKeepsTheCollection() throws {
        let worker = try WorkerHarness(self)
        XCTAssertEqual(worker.v11("meta", json: #"{"v":11}"#).status, 200)
        let before = try storedBytes(worker)
        let r = worker.v11("upload", Array(repeating: 7, count: 10_000))
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, FullSyncHandlers.corruptText)
        XCTAssertEqual(try storedBytes(worker), before)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: worker.folder).filter { $0.hasPrefix(UserStore.uploadPrefix) }
        XCTAssertEqual(leftovers, [], "the temporary file is removed")
    }

    func testUploadOverTheLimitNamesIt() throws {
        let worker = try WorkerHarness(self, maxPayloadMegs: 1)
        let r = worker.v11("upload", Array(repeating: 0, count: 3 * 1024 * 1024 + 1))
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.text.contains("MAX_SYNC_PAYLOAD_MEGS=1"), r.text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: worker.folder + "/collection.anki2"))
    }

    /// By the time a refused upload is answered its temporary file is gone (a client that checks
    /// the folder right after the answer finds nothing of it).
    func testRefusedUploadIsRemovedBeforeTheAnswer() throws {
        let worker = try WorkerHarness(self, maxPayloadMegs: 1)
        var leftovers: [String]?
        let request = WorkerHarness.v11Request("upload", Array(repeating: 0, count: 3 * 1024 * 1024 + 1))
        let connection = HookedConnection(input: request) { [folder = worker.folder] in
            leftovers = (try? FileManager.default.contentsOfDirectory(atPath: folder))?.filter { $0.hasPrefix(UserStore.uploadPrefix) }
        }
        _ = RequestDispatcher(context: worker.context).serve(connection, prefix: [])
        XCTAssertEqual(TestResponse.parseAll(connection.output).first?.status, 200)
        XCTAssertEqual(leftovers, [])
    }

    func testDownloadSendsTheCollectionAndEndsTheSession() throws {
        let worker = try WorkerHarness(self)
        XCTAssertEqual(worker.v11("start", json: RequestHandlerTests.startBody, skey: "s1").status, 200)
        let r = worker.v11("download", json: #"{"_pad":null}"#)
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(Int(r.headers["anki-original-size"] ?? ""), r.body.count)
        XCTAssertEqual(Array(r.body.prefix(16)), Array("SQLite format 3\0".utf8))
        XCTAssertEqual(worker.v11("finish", json: "{}", skey: "s1").status, 409)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: worker.folder).filter { $0.hasPrefix(UserStore.uploadPrefix) }
        XCTAssertEqual(leftovers, [], "the copy is gone")
    }

    /// While a download is being written to a client, the user's other requests are served.
    func testDownloadDoesNotHoldTheLockWhileSending() throws {
        let worker = try WorkerHarness(self)
        XCTAssertEqual(worker.v11("meta", json: #"{"v":11}"#).status, 200)
        let metaServed = DispatchSemaphore(value: 0)
        var servedWhileSending = false
        let connection = HookedConnection(input: WorkerHarness.v11Request("download", Array("{}".utf8))) { [context = worker.context] in
            // First bytes of the download are going out: another request must get the collection now.
            Thread.detachNewThread {
                let meta = MemoryConnection(input: WorkerHarness.v11Request("meta", Array(#"{"v":11}"#.utf8)))
                _ = RequestDispatcher(context: context).serve(meta, prefix: [])
                metaServed.signal()
            }
            servedWhileSending = metaServed.wait(timeout: .now() + 10) == .success
        }
        let outcome = RequestDispatcher(context: worker.context).serve(connection, prefix: [])
        if !servedWhileSending { metaServed.wait() }
        XCTAssertTrue(servedWhileSending, "meta waited for the download to finish")
        XCTAssertEqual(TestResponse.parseAll(connection.output).first?.status, 200)
        XCTAssertNotEqual(outcome, .close)
    }
}

/// An in-memory connection that runs `onFirstSend` once, as the response starts going out.
final class HookedConnection: Connection {
    private let inner: MemoryConnection
    private var hook: (() -> Void)?

    init(input: [UInt8], onFirstSend: @escaping () -> Void) {
        inner = MemoryConnection(input: input)
        hook = onFirstSend
    }

    var output: [UInt8] { inner.output }

    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(ConnectionError) -> Int {
        try inner.receive(into: buffer)
    }

    func send(_ bytes: UnsafeRawBufferPointer) throws(ConnectionError) {
        if let hook {
            self.hook = nil
            hook()
        }
        try inner.send(bytes)
    }
}
