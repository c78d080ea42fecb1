import Foundation
import XCTest
@testable import Shared

final class ChannelMessageTests: XCTestCase {
    static let hello: WorkerHello = {
        var limits = ServerConfig.Limits()
        limits.maxConnections = 12
        limits.workerIdleSeconds = 99
        limits.workerHoldMillis = 0
        return WorkerHello(user: "alice", folder: "/data/sync/alice", hostKey: "579e7fa764f43a98d0fa5a30dcd5401f868bbe6d",
                           maxPayloadMegs: 100, limits: limits, logFormat: .json, addressHeader: "x-real-ip")
    }()

    static let allCases: [ChannelMessage] = [
        .hello(hello),
        .connection(id: 0, prefix: []),
        .connection(id: 1, prefix: Array("POST /sync/meta HTTP/1.1\r\n".utf8)),
        .connection(id: UInt64.max, prefix: (0...255).map { UInt8($0) }),
        .connectionBack(id: 0x0102_0304_0506_0708, leftover: []),
        .connectionBack(id: 42, leftover: Array("GET /health HTTP/1.1\r\n\r\n".utf8)),
        .stats(WorkerStats()),
        .stats(WorkerStats(requestsServed: 17, activeSyncSession: true, lastRequestMillis: 1_760_000_000_123, inFlight: 2)),
        .stats(WorkerStats(requestsServed: 1, isolation: WorkerIsolation(landlockAbi: 7, seccomp: true, noNewPrivs: true))),
        .stats(WorkerStats(isolation: WorkerIsolation(landlockAbi: 0, seccomp: false, noNewPrivs: true))),
        .shutdown(reason: ""),
        .shutdown(reason: "config reloaded: üser removed"),
        .idle(received: 0),
        .idle(received: 123_456_789_012),
        .maintenance(id: 5, request: MaintenanceRequest(command: .snapshot, path: "/backups/2026/alice")),
        .maintenanceDone(id: 5, reply: MaintenanceReply(ok: false, message: "disk full")),
        .requestDone(RequestReport(connectionID: 7, method: "msync/uploadChanges", status: 200, micros: 1234, bytesIn: 10,
                                   bytesOut: 20, event: .none, mediaFiles: 25, client: "26.09.3,abc,linux")),
        .requestDone(RequestReport(connectionID: 1, method: "upload", status: 413, micros: 0, bytesIn: 0, bytesOut: 0,
                                   event: .fullUpload, mediaFiles: 0, client: "")),
        .releaseHeld,
    ]

    func testRequestReportBoundsAndTruncation() throws {
        let long = String(repeating: "é", count: 200)
        let report = RequestReport(connectionID: 1, method: "meta", status: 200, micros: 1, bytesIn: 1, bytesOut: 1, client: long)
        XCTAssertLessThanOrEqual(report.client.utf8.count, RequestReport.maxClientBytes)
        guard case .requestDone(let decoded) = try decode(ChannelMessage.requestDone(report).encode()) else {
            return XCTFail("not a report")
        }
        XCTAssertEqual(decoded, report)
        var bytes = ChannelMessage.requestDone(report).encode()
        bytes.removeLast()
        assertRejected(bytes)
        bytes = ChannelMessage.requestDone(report).encode()
        bytes[2 + 40] = 99      // no such event
        assertRejected(bytes)
        // Text that is not UTF-8 is refused rather than altered (found by FuzzChannel).
        bytes = ChannelMessage.requestDone(report).encode()
        let methodStart = 2 + RequestReport.fixedSize + 1
        bytes[methodStart] = 0xFF
        assertRejected(bytes)
        // Truncation keeps whole characters.
        let cut = RequestReport(connectionID: 1, method: "meta", status: 200, micros: 1, bytesIn: 1, bytesOut: 1,
                                client: String(repeating: "a", count: 127) + "é")
        XCTAssertEqual(cut.client, String(repeating: "a", count: 127))
    }

    func decode(_ bytes: [UInt8]) throws -> ChannelMessage { try ChannelMessage.decode(bytes[...]) }

    func assertRejected(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        do {
            let m = try decode(bytes)
            XCTFail("decoded \(m)", file: file, line: line)
        } catch let error as ChannelMessage.DecodeError {
            XCTAssertFalse(error.description.isEmpty, file: file, line: line)
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
        }
    }

    func testRoundTripEveryCase() throws {
        for message in Self.allCases {
            let bytes = message.encode()
            XCTAssertEqual(bytes[0], ChannelMessage.version)
            XCTAssertEqual(try decode(bytes), message)
        }
    }

    func testDecodeFromSliceWithOffset() throws {
        let bytes = [0xAA, 0xBB] + ChannelMessage.connection(id: 9, prefix: [1, 2, 3]).encode()
        XCTAssertEqual(try ChannelMessage.decode(bytes[2...]), .connection(id: 9, prefix: [1, 2, 3]))
    }

    func testWireLayout() {
        XCTAssertEqual(ChannelMessage.connection(id: 0x0102_0304_0506_0708, prefix: [0xEE]).encode(),
                       [4, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0xEE])
        XCTAssertEqual(ChannelMessage.connectionBack(id: 1, leftover: []).encode(), [4, 3, 0, 0, 0, 0, 0, 0, 0, 1])
        XCTAssertEqual(ChannelMessage.shutdown(reason: "bye").encode(), [4, 5] + Array("bye".utf8))
        XCTAssertEqual(Array(ChannelMessage.hello(Self.hello).encode().prefix(2)), [4, 1])
        XCTAssertEqual(Array(ChannelMessage.stats(WorkerStats()).encode().prefix(2)), [4, 4])
    }

    func testHelloCarriesEveryField() throws {
        guard case .hello(let decoded) = try decode(ChannelMessage.hello(Self.hello).encode()) else {
            return XCTFail("not a hello")
        }
        XCTAssertEqual(decoded.user, "alice")
        XCTAssertEqual(decoded.folder, "/data/sync/alice")
        XCTAssertEqual(decoded.hostKey, "579e7fa764f43a98d0fa5a30dcd5401f868bbe6d")
        XCTAssertEqual(decoded.maxPayloadMegs, 100)
        XCTAssertEqual(decoded.limits.maxConnections, 12)
        XCTAssertEqual(decoded.limits.workerIdleSeconds, 99)
        XCTAssertEqual(decoded.logFormat, .json)
    }

    func testLargeConnectionPrefixFitsLimit() throws {
        let prefix = pseudoRandomBytes(64 * 1024)
        let bytes = ChannelMessage.connection(id: 5, prefix: prefix).encode()
        XCTAssertLessThanOrEqual(bytes.count, ChannelMessage.maxSize)
        XCTAssertEqual(try decode(bytes), .connection(id: 5, prefix: prefix))
    }

    func testVersionMismatchRejected() {
        var bytes = ChannelMessage.shutdown(reason: "x").encode()
        bytes[0] = ChannelMessage.version + 1
        assertRejected(bytes)
        bytes[0] = 0
        assertRejected(bytes)
    }

    func testUnknownKindRejected() {
        assertRejected([2, 0])
        assertRejected([2, 9, 0, 0, 0, 0, 0, 0, 0, 0])
        assertRejected([2, 7, 0, 0, 0, 0, 0, 0, 0, 5])  // maintenance without a request
        assertRejected([2, 6, 0, 0])  // idle needs exactly 8 bytes
        assertRejected([2, 255])
    }

    func testShortMessagesRejected() {
        assertRejected([])
        assertRejected([2])
        assertRejected([2, 2])
        assertRejected([2, 2, 0, 0, 0, 0, 0, 0, 0])
        assertRejected([2, 3, 0, 0, 0])
    }

    func testBadJSONPayloadsRejected() {
        assertRejected([2, 1])
        assertRejected([2, 1] + Array("{}".utf8))
        assertRejected([2, 1] + Array("not json".utf8))
        assertRejected([2, 4] + Array("{\"requestsServed\":\"many\"}".utf8))
        var truncated = ChannelMessage.hello(Self.hello).encode()
        truncated.removeLast()
        assertRejected(truncated)
    }

    func testStatsLayoutAndOlderVersionRejected() throws {
        let stats = WorkerStats(requestsServed: 3, activeSyncSession: true, lastRequestMillis: -1, inFlight: 1)
        let bytes = ChannelMessage.stats(stats).encode()
        XCTAssertEqual(bytes.count, 2 + 25 + 4)
        XCTAssertEqual(try decode(bytes), .stats(stats))
        var badFlag = bytes
        badFlag[2 + 8] = 2
        assertRejected(badFlag)
        var badIsolation = bytes
        badIsolation[2 + 25] = 2
        assertRejected(badIsolation)
        assertRejected(Array(bytes.dropLast()))
        // A worker binary from another release must not misread the channel: versions 1 and 2 are refused.
        assertRejected([1, 5] + Array("bye".utf8))
        assertRejected([2, 5] + Array("bye".utf8))
    }
}
