import Glibc
import Shared
import XCTest
@testable import Worker

/// Which requests a worker may serve on a connection it kept (`FollowUpRequest`), and the wait.
final class FollowUpRequestTests: XCTestCase {
    let key = String(repeating: "a", count: 40)

    func head(_ path: String, key: String?, extra: [String] = [], method: String = "POST") -> [UInt8] {
        var lines = ["\(method) \(path) HTTP/1.1", "host: x"]
        if let key { lines.append(#"anki-sync: {"v":11,"k":"\#(key)","c":"t,1,lin","s":"abc"}"#) }
        lines += extra
        lines += ["content-length: 0", "", ""]
        return Array(lines.joined(separator: "\r\n").utf8)
    }

    func ours(_ bytes: [UInt8], _ rule: FollowUpRequest) -> Bool { rule.isOurs(bytes[...]) }

    func testOnlyThisAccountsSyncAndMediaRequests() {
        let rule = FollowUpRequest(hostKey: key, addressHeader: nil, routedHead: head("/sync/meta", key: key))
        XCTAssertTrue(ours(head("/sync/meta", key: key), rule))
        XCTAssertTrue(ours(head("/msync/begin", key: key), rule))
        XCTAssertTrue(ours(head("/anki/sync/chunk", key: key), rule), "a proxy's subpath")
        XCTAssertFalse(ours(head("/sync/meta", key: String(repeating: "b", count: 40)), rule), "another account")
        XCTAssertFalse(ours(head("/sync/meta", key: String(key.dropLast())), rule))
        XCTAssertFalse(ours(head("/sync/hostKey", key: key), rule), "a login is the front door's")
        XCTAssertFalse(ours(head("/health", key: key, method: "GET"), rule))
        XCTAssertFalse(ours(head("/sync/meta", key: nil, extra: ["content-type: multipart/form-data; boundary=x"]), rule),
                       "a legacy form names its key in the body")
        XCTAssertFalse(ours(head("/sync/nope", key: key), rule))
        XCTAssertFalse(ours(Array("POST /sync/meta HTTP/1.1\r\nanki-sync: {\r\n\r\n".utf8), rule), "a bad header")
        XCTAssertFalse(ours(Array("garbage\r\n\r\n".utf8), rule))
    }

    func testBehindAProxyTheClientAddressMustStayTheSame() {
        let routed = head("/sync/meta", key: key, extra: ["x-real-ip: 10.0.0.1"])
        let rule = FollowUpRequest(hostKey: key, addressHeader: "x-real-ip", routedHead: routed)
        XCTAssertTrue(ours(head("/sync/start", key: key, extra: ["x-real-ip: 10.0.0.1"]), rule))
        XCTAssertFalse(ours(head("/sync/start", key: key, extra: ["x-real-ip: 10.0.0.2"]), rule))
        XCTAssertFalse(ours(head("/sync/start", key: key), rule))
        let unnamed = FollowUpRequest(hostKey: key, addressHeader: "x-real-ip", routedHead: head("/sync/meta", key: key))
        XCTAssertTrue(ours(head("/sync/start", key: key), unnamed), "absent both times")
        XCTAssertFalse(ours(head("/sync/start", key: key, extra: ["x-real-ip: 10.0.0.1"]), unnamed))
    }

    func testWaitServesAWholeHeadAndLeavesItUnread() throws {
        var pair: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair), 0)
        defer { close(pair[0]); close(pair[1]) }
        var rule = FollowUpRequest(hostKey: key, addressHeader: nil, routedHead: [])
        let request = head("/sync/meta", key: key)
        XCTAssertEqual(request.withUnsafeBytes { write(pair[1], $0.baseAddress, $0.count) }, request.count)
        XCTAssertTrue(rule.await(fd: pair[0], holdMillis: 2000, giveWay: { false }))
        var buffer = [UInt8](repeating: 0, count: 4096)
        XCTAssertEqual(read(pair[0], &buffer, buffer.count), request.count, "the head was only peeked")
    }

    func testWaitGivesUpOnSilenceAPartialHeadAClosedPeerOrWhenAskedToGiveWay() {
        var pair: [Int32] = [0, 0]
        XCTAssertEqual(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair), 0)
        defer { close(pair[0]) }
        var rule = FollowUpRequest(hostKey: key, addressHeader: nil, routedHead: [])
        XCTAssertFalse(rule.await(fd: pair[0], holdMillis: 50, giveWay: { false }), "silence")
        var asked = 0
        XCTAssertFalse(rule.await(fd: pair[0], holdMillis: 60_000, giveWay: { asked += 1; return asked > 2 }))
        XCTAssertEqual(asked, 3, "asked once per slice")
        let partial = Array("POST /sync/meta HTTP/1.1\r\n".utf8)
        XCTAssertEqual(partial.withUnsafeBytes { write(pair[1], $0.baseAddress, $0.count) }, partial.count)
        XCTAssertFalse(rule.await(fd: pair[0], holdMillis: 2000, giveWay: { false }), "a partial head")
        var buffer = [UInt8](repeating: 0, count: 64)
        XCTAssertEqual(read(pair[0], &buffer, buffer.count), partial.count)
        close(pair[1])
        XCTAssertFalse(rule.await(fd: pair[0], holdMillis: 2000, giveWay: { false }), "closed")
    }
}
