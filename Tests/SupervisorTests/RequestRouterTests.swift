import XCTest
@testable import Shared
@testable import Supervisor

final class RequestRouterTests: XCTestCase {
    static let alice = UserEntry(name: "alice", secret: "pw", hostKey: HostKey.derive(entry: "alice:pw"))
    static let bob = UserEntry(name: "bob", secret: "a:b", hostKey: HostKey.derive(entry: "bob:a:b"))
    let router = RequestRouter(users: [alice, bob])

    func head(_ method: String, _ target: String, syncHeader: String? = nil, extra: String = "",
              file: StaticString = #filePath, line: UInt = #line) throws -> HTTPRequestHead {
        var text = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\n"
        if let syncHeader { text += "anki-sync: \(syncHeader)\r\n" }
        text += extra + "\r\n"
        return try HTTPHeadParser.parse(ArraySlice(text.utf8))
    }

    func header(key: String, v: Int = 11) -> String { #"{"v":\#(v),"k":"\#(key)","c":"26.09.3,abc,linux","s":"s1"}"# }

    func status(_ decision: RouteDecision) -> Int? {
        if case .reject(let status, let reason) = decision {
            XCTAssertFalse(reason.isEmpty)
            return status
        }
        return nil
    }

    func testHealthNeedsNoHeader() throws {
        let router = RequestRouter(users: [])
        let head = try HTTPHeadParser.parse(ArraySlice("GET /health HTTP/1.1\r\n\r\n".utf8))
        XCTAssertEqual(router.decide(head), .health)
    }

    func testHealthIgnoresABadSyncHeader() throws {
        XCTAssertEqual(router.decide(try head("GET", "/health", syncHeader: "garbage")), .health)
        XCTAssertEqual(router.decide(try head("HEAD", "/health")), .health)
    }

    func testLoginNeedsNoKnownKey() throws {
        XCTAssertEqual(router.decide(try head("POST", "/sync/hostKey", syncHeader: header(key: ""))), .login)
        XCTAssertEqual(router.decide(try head("POST", "/sync/hostKey", syncHeader: header(key: "stale-key"))), .login)
        XCTAssertEqual(router.decide(try head("POST", "/anki/sync/hostKey", syncHeader: header(key: ""))), .login)
    }

    func testLoginStillNeedsAValidHeader() throws {
        XCTAssertEqual(status(router.decide(try head("POST", "/sync/hostKey"))), 400)
        XCTAssertEqual(status(router.decide(try head("POST", "/sync/hostKey", syncHeader: header(key: "", v: 7)))), 400)
    }

    func testForwardByHostKey() throws {
        XCTAssertEqual(router.decide(try head("POST", "/sync/meta", syncHeader: header(key: Self.alice.hostKey))), .forward(user: "alice"))
        XCTAssertEqual(router.decide(try head("POST", "/sync/upload", syncHeader: header(key: Self.bob.hostKey))), .forward(user: "bob"))
        XCTAssertEqual(router.decide(try head("POST", "/msync/begin", syncHeader: header(key: Self.bob.hostKey))), .forward(user: "bob"))
        XCTAssertEqual(router.decide(try head("POST", "/prefix/msync/mediaSanity?x=1", syncHeader: header(key: Self.alice.hostKey, v: 8))),
                       .forward(user: "alice"))
        XCTAssertEqual(router.usersByHostKey, ["579e7fa764f43a98d0fa5a30dcd5401f868bbe6d": "alice", Self.bob.hostKey: "bob"])
    }

    func testEveryRouteForwards() throws {
        for m in SyncMethod.allCases where m != .hostKey {
            XCTAssertEqual(router.decide(try head("POST", "/sync/\(m.rawValue)", syncHeader: header(key: Self.alice.hostKey))),
                           .forward(user: "alice"), m.rawValue)
        }
        for m in MediaMethod.allCases {
            XCTAssertEqual(router.decide(try head("POST", "/msync/\(m.rawValue)", syncHeader: header(key: Self.alice.hostKey))),
                           .forward(user: "alice"), m.rawValue)
        }
    }

    func testUnknownHostKeyIs403() throws {
        XCTAssertEqual(status(router.decide(try head("POST", "/sync/meta", syncHeader: header(key: "0000000000000000000000000000000000000000")))), 403)
        XCTAssertEqual(status(router.decide(try head("POST", "/sync/meta", syncHeader: header(key: "")))), 403)
        // Keys are compared exactly.
        XCTAssertEqual(status(router.decide(try head("POST", "/sync/meta", syncHeader: header(key: Self.alice.hostKey.uppercased())))), 403)
        XCTAssertEqual(status(router.decide(try head("POST", "/msync/begin", syncHeader: header(key: "nope")))), 403)
    }

    func testBadHeaderIs400() throws {
        for bad in ["not json", header(key: Self.alice.hostKey, v: 7), header(key: Self.alice.hostKey, v: 12),
                    #"{"v":11,"c":"x","s":"y"}"#, #"{"v":true,"k":"\#(Self.alice.hostKey)"}"#] {
            XCTAssertEqual(status(router.decide(try head("POST", "/sync/meta", syncHeader: bad))), 400, bad)
        }
    }

    func testLegacyRequestsWithoutHeader() throws {
        let multipart = "Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 10\r\n"
        XCTAssertEqual(router.decide(try head("POST", "/sync/meta", extra: multipart)), .legacyForm(boundary: Array("xyz".utf8), login: false))
        XCTAssertEqual(router.decide(try head("POST", "/sync/hostKey", extra: multipart)), .legacyForm(boundary: Array("xyz".utf8), login: true))
        XCTAssertEqual(router.decide(try head("POST", "/msync/uploadChanges", extra: multipart)), .legacyForm(boundary: Array("xyz".utf8), login: false))
        XCTAssertEqual(router.decide(try head("GET", "/msync/begin?k=\(Self.alice.hostKey)&v=anki,2.1.49")), .forward(user: "alice"))
        XCTAssertEqual(status(router.decide(try head("GET", "/msync/begin?k=nope&v=anki,2.1.49"))), 403)
        XCTAssertEqual(status(router.decide(try head("GET", "/msync/begin?v=anki,2.1.49"))), 400)
        // without a usable multipart content type: 400
        XCTAssertEqual(status(router.decide(try head("POST", "/sync/meta", extra: "Content-Type: multipart/form-data\r\n"))), 400)
        XCTAssertEqual(status(router.decide(try head("POST", "/sync/meta", extra: "Content-Type: application/json\r\n"))), 400)
        XCTAssertEqual(status(router.decide(try head("POST", "/sync/meta"))), 400)
    }

    func testRoutingFailuresComeFirst() throws {
        let key = header(key: Self.alice.hostKey)
        XCTAssertEqual(status(router.decide(try head("POST", "/nowhere", syncHeader: key))), 404)
        XCTAssertEqual(status(router.decide(try head("GET", "/", syncHeader: nil))), 404)
        XCTAssertEqual(status(router.decide(try head("GET", "/sync/meta", syncHeader: key))), 405)
        XCTAssertEqual(status(router.decide(try head("POST", "/health"))), 405)
        XCTAssertEqual(status(router.decide(try head("POST", "/sync/bogus", syncHeader: key))), 400)
        // A bad key does not turn a 404/405 into a 403.
        XCTAssertEqual(status(router.decide(try head("GET", "/sync/meta", syncHeader: header(key: "nope")))), 405)
        XCTAssertEqual(status(router.decide(try head("POST", "/favicon.ico", syncHeader: header(key: "nope")))), 404)
    }

    func testNoUsersMeansEveryKeyUnknown() throws {
        let empty = RequestRouter(users: [])
        XCTAssertEqual(status(empty.decide(try head("POST", "/sync/meta", syncHeader: header(key: Self.alice.hostKey)))), 403)
        XCTAssertEqual(empty.decide(try head("POST", "/sync/hostKey", syncHeader: header(key: ""))), .login)
    }
}
