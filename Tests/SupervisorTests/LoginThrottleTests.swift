import XCTest
@testable import Shared
@testable import Supervisor

final class LoginThrottleTests: XCTestCase {
    /// Admits one login from `peer` and (unless refused) records its outcome, returning the admission.
    @discardableResult
    func attempt(_ t: inout LoginThrottle, peer: String, name: String = "alice", id: UInt64, now: Double,
                 ok: Bool = false) -> LoginThrottle.Admission {
        let admission = t.admit(peer: peer, connection: id, now: now)
        if case .refuse = admission { return admission }
        if ok { _ = t.succeeded(connection: id, name: name, now: now) } else { _ = t.failed(connection: id, name: name, now: now) }
        return admission
    }

    func testEachFailureDoublesTheBlockShortOnesHoldLongOnesRefuse() {
        var t = LoginThrottle()
        let now = 1000.0
        XCTAssertEqual(attempt(&t, peer: "10.0.0.1", id: 1, now: now), .allow)
        // 0.25 s after the first failure: a login arriving meanwhile waits for the block's end.
        XCTAssertEqual(t.admit(peer: "10.0.0.1", connection: 2, now: now + 0.1), .hold(until: now + 0.25))
        t.release(connection: 2)
        XCTAssertEqual(t.admit(peer: "10.0.0.1", connection: 3, now: now + 0.3), .allow)
        t.release(connection: 3)
        var block = 0.25
        var failures = 1
        while block * 2 <= LoginThrottle.maxHoldSeconds {
            attempt(&t, peer: "10.0.0.1", id: 10 + UInt64(failures), now: now)
            failures += 1
            block *= 2
            XCTAssertEqual(t.admit(peer: "10.0.0.1", connection: 99, now: now), .hold(until: now + block), "failure \(failures)")
            t.release(connection: 99)
        }
        attempt(&t, peer: "10.0.0.1", id: 50, now: now)
        XCTAssertEqual(t.admit(peer: "10.0.0.1", connection: 51, now: now), .refuse(retryAfter: Int(block * 2)))
        // Guessing on and on: blocks stop growing at the cap.
        var later = now
        for i in 0..<20 {
            later += LoginThrottle.maxBlockSeconds + 1
            attempt(&t, peer: "10.0.0.1", id: 200 + UInt64(i), now: later)
        }
        XCTAssertEqual(t.admit(peer: "10.0.0.1", connection: 999, now: later), .refuse(retryAfter: Int(LoginThrottle.maxBlockSeconds)))
    }

    func testOtherAddressesAreNotBlockedAndSuccessForgives() {
        var t = LoginThrottle()
        for i in 0..<15 { attempt(&t, peer: "10.0.0.1", id: UInt64(i), now: 1000) }
        guard case .refuse = t.admit(peer: "10.0.0.1", connection: 50, now: 1000) else { return XCTFail("guesser not refused") }
        XCTAssertTrue(t.hasFailed(peerKey: "10.0.0.1"))
        XCTAssertEqual(t.admit(peer: "10.0.0.2", connection: 51, now: 1000), .allow)
        XCTAssertFalse(t.hasFailed(peerKey: "10.0.0.2"))
        // The right password from 10.0.0.2 for the attacked name is answered within the name cap.
        let delay = t.succeeded(connection: 51, name: "alice", now: 1000)
        XCTAssertGreaterThan(delay, 0, "recent failures for the name slow its answers a little")
        XCTAssertLessThanOrEqual(delay, LoginThrottle.maxNameDelay)
        // A success clears its own address.
        var u = LoginThrottle()
        attempt(&u, peer: "10.0.0.3", id: 1, now: 1000)
        attempt(&u, peer: "10.0.0.3", id: 2, now: 1000)
        attempt(&u, peer: "10.0.0.3", id: 3, now: 1000, ok: true)
        XCTAssertFalse(u.hasFailed(peerKey: "10.0.0.3"))
        XCTAssertEqual(u.admit(peer: "10.0.0.3", connection: 4, now: 1000), .allow)
    }

    func testNameDelayIsCappedAndDecays() {
        var t = LoginThrottle()
        // Many addresses, one name: nobody gets blocked, the name's answers are delayed at most the cap.
        for i in 0..<500 { attempt(&t, peer: "10.1.\(i / 250).\(i % 250)", id: UInt64(i), now: 1000) }
        XCTAssertEqual(t.nameDelay("alice", now: 1000), LoginThrottle.maxNameDelay, accuracy: 1e-9)
        XCTAssertEqual(t.nameDelay("bob", now: 1000), 0)
        XCTAssertLessThan(t.nameDelay("alice", now: 1000 + 10 * LoginThrottle.nameHalfLife), LoginThrottle.maxNameDelay)
        XCTAssertEqual(t.admit(peer: "10.9.9.9", connection: 9999, now: 1000), .allow)
    }

    func testInFlightPerAddressIsBoundedAndReleased() {
        var t = LoginThrottle()
        for i in 0..<LoginThrottle.maxInFlightPerPeer {
            XCTAssertEqual(t.admit(peer: "10.0.0.1", connection: UInt64(i), now: 1), .allow)
        }
        XCTAssertEqual(t.admit(peer: "10.0.0.1", connection: 100, now: 1), .refuse(retryAfter: 1))
        t.release(connection: 0)
        XCTAssertEqual(t.admit(peer: "10.0.0.1", connection: 101, now: 1), .allow)
    }

    func testTarpitIsBoundedPerAddress() {
        var t = LoginThrottle()
        for i in 0..<LoginThrottle.maxInFlightPerPeer {
            XCTAssertTrue(t.tarpit(peer: "10.0.0.1", connection: UInt64(i)))
        }
        XCTAssertFalse(t.tarpit(peer: "10.0.0.1", connection: 100), "more held refusals would fill the connection table")
        XCTAssertTrue(t.tarpit(peer: "10.0.0.2", connection: 101))
        t.untarpit(connection: 0)
        XCTAssertTrue(t.tarpit(peer: "10.0.0.1", connection: 102))
    }

    func testIPv6AddressesShareTheirSlash64() {
        XCTAssertEqual(LoginThrottle.key(forPeer: "2001:db8:1:2:aaaa::1"), LoginThrottle.key(forPeer: "2001:db8:1:2:bbbb::9"))
        XCTAssertNotEqual(LoginThrottle.key(forPeer: "2001:db8:1:2::1"), LoginThrottle.key(forPeer: "2001:db8:1:3::1"))
        XCTAssertEqual(LoginThrottle.key(forPeer: "192.0.2.7"), "192.0.2.7")
    }

    func testForgetOldDropsOnlyQuietAddresses() {
        var t = LoginThrottle()
        for i in 0..<30 { attempt(&t, peer: "10.0.0.1", id: UInt64(i), now: 1000) }
        attempt(&t, peer: "10.0.0.2", id: 99, now: 1000)
        t.forgetOld(now: 1030)
        XCTAssertNotNil(t.peers["10.0.0.1"], "a recent (and blocked) address is remembered")
        XCTAssertNotNil(t.peers["10.0.0.2"])
        t.forgetOld(now: 1000 + LoginThrottle.forgetAfter + 1)
        XCTAssertTrue(t.peers.isEmpty, "quiet addresses are forgotten: the table stays bounded")
        XCTAssertTrue(t.names.isEmpty)
    }
}

final class PeerAddressTests: XCTestCase {
    func head(_ extra: String) throws -> HTTPRequestHead {
        try HTTPHeadParser.parse(ArraySlice("POST /sync/hostKey HTTP/1.1\r\nhost: x\r\n\(extra)\r\n".utf8))
    }

    func testConnectInfoIgnoresHeaders() throws {
        let source = PeerAddressSource(.connectInfo)
        XCTAssertEqual(source.address(of: try head("x-forwarded-for: 1.2.3.4\r\n"), connectedFrom: "127.0.0.1"), "127.0.0.1")
    }

    func testHeaderSources() throws {
        XCTAssertEqual(PeerAddressSource(.rightmostXForwardedFor)
            .address(of: try head("x-forwarded-for: 6.6.6.6, 1.2.3.4\r\n"), connectedFrom: "127.0.0.1"), "1.2.3.4")
        XCTAssertEqual(PeerAddressSource(.xRealIp).address(of: try head("x-real-ip: 9.9.9.9\r\n"), connectedFrom: "127.0.0.1"), "9.9.9.9")
        XCTAssertEqual(PeerAddressSource(.rightmostForwarded)
            .address(of: try head("forwarded: for=1.1.1.1, for=\"[2001:db8::1]:443\";proto=https\r\n"), connectedFrom: "p"), "2001:db8::1")
        XCTAssertEqual(PeerAddressSource(.cloudFrontViewerAddress)
            .address(of: try head("cloudfront-viewer-address: 2001:db8::5:46532\r\n"), connectedFrom: "p"), "2001:db8::5")
        // Missing or absurd values fall back to the connected address.
        XCTAssertEqual(PeerAddressSource(.xRealIp).address(of: try head(""), connectedFrom: "127.0.0.1"), "127.0.0.1")
        XCTAssertEqual(PeerAddressSource(.xRealIp).address(of: try head("x-real-ip: a b\r\n"), connectedFrom: "127.0.0.1"), "127.0.0.1")
    }

    func testConfigNamesTheVariable() {
        XCTAssertThrowsError(try ClientIPSource.parse("XForwardedFor")) { error in
            XCTAssertEqual((error as? ConfigError)?.variable, "SYNC_IP_HEADER")
        }
        XCTAssertEqual(try ClientIPSource.parse(nil), .connectInfo)
        XCTAssertEqual(try ClientIPSource.parse("CfConnectingIp"), .cfConnectingIp)
    }
}

final class SilentQueueTests: XCTestCase {
    func testOldestFirstAndCompaction() {
        var q = SilentQueue()
        for i in 0..<5000 { q.push(id: UInt64(i), since: Double(i)) }
        XCTAssertEqual(q.popOldest()?.0, 0)
        XCTAssertEqual(q.popOldest()?.0, 1)
        // Only even ids are still silent: compaction keeps them, in order.
        q.compact { id, _ in id % 2 == 0 }
        XCTAssertEqual(q.popOldest()?.0, 2)
        XCTAssertEqual(q.popOldest()?.0, 4)
    }
}

final class LoginQueueTests: XCTestCase {
    func job(_ id: UInt64, _ peer: String, suspect: Bool = false) -> LoginQueue.Job {
        LoginQueue.Job(connectionID: id, userName: "u", password: "p", peer: peer, suspect: suspect)
    }

    func testCleanAddressesGoFirstAndTakeTurns() {
        var q = LoginQueue()
        for i in 0..<5 { q.push(job(UInt64(i), "flood", suspect: true)) }
        q.push(job(10, "a"))
        q.push(job(11, "a"))
        q.push(job(20, "b"))
        XCTAssertEqual(q.next()?.connectionID, 10)
        XCTAssertEqual(q.next()?.connectionID, 20, "addresses take turns")
        XCTAssertEqual(q.next()?.connectionID, 11)
        XCTAssertEqual(q.next()?.connectionID, 0, "then the failing address")
        XCTAssertNil(q.next(), "a failing address has one check running at most")
        q.finished(peer: "flood")
        XCTAssertEqual(q.next()?.connectionID, 1)
        XCTAssertEqual(q.count, 3)
    }

    func testCleanAddressMayRunSeveral() {
        var q = LoginQueue()
        q.push(job(1, "a"))
        q.push(job(2, "a"))
        XCTAssertEqual(q.next()?.connectionID, 1)
        XCTAssertEqual(q.next()?.connectionID, 2)
        XCTAssertEqual(q.running["a"], 2)
        q.finished(peer: "a")
        q.finished(peer: "a")
        XCTAssertNil(q.running["a"])
    }
}
