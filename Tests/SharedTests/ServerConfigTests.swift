import Foundation
import XCTest
@testable import Shared

final class ServerConfigTests: XCTestCase {
    let base: [String: String] = ["HOME": "/home/tester", "SYNC_USER1": "alice:pw"]

    func load(_ extra: [String: String], dropping: [String] = []) throws -> ServerConfig {
        var env = base
        for k in dropping { env[k] = nil }
        env.merge(extra) { _, new in new }
        return try ServerConfig.load(environment: env)
    }

    /// The error `load` throws for `env` (base environment plus `extra`), failing the test if none.
    func refusal(_ extra: [String: String], dropping: [String] = [], file: StaticString = #filePath, line: UInt = #line) -> ConfigError? {
        var env = base
        for k in dropping { env[k] = nil }
        env.merge(extra) { _, new in new }
        do {
            let config = try ServerConfig.load(environment: env)
            XCTFail("expected a refusal, got users \(config.users.map(\.name))", file: file, line: line)
            return nil
        } catch {
            return error
        }
    }

    func assertRefused(_ extra: [String: String], variable: String, dropping: [String] = [],
                       file: StaticString = #filePath, line: UInt = #line) {
        guard let error = refusal(extra, dropping: dropping, file: file, line: line) else { return }
        XCTAssertEqual(error.variable, variable, "\(error)", file: file, line: line)
        XCTAssertFalse(error.problem.isEmpty, file: file, line: line)
        XCTAssertTrue(error.description.hasPrefix("\(variable): "), error.description, file: file, line: line)
    }

    // MARK: defaults

    func testDefaults() throws {
        let config = try load([:])
        XCTAssertEqual(config.baseDirectory, "/home/tester/.syncserver")
        XCTAssertEqual(config.host, "0.0.0.0")
        XCTAssertEqual(config.port, 8080)
        XCTAssertEqual(config.maxPayloadMegs, 100)
        XCTAssertEqual(config.maxDecompressedBytes, 300 * 1024 * 1024)
        XCTAssertFalse(config.passwordsHashed)
        XCTAssertNil(config.workerBinary)
        XCTAssertEqual(config.logFormat, .text)
        XCTAssertEqual(config.limits, ServerConfig.Limits())
        XCTAssertEqual(config.limits.headTimeoutSeconds, 30)
        XCTAssertEqual(config.limits.maxHeadBytes, 64 * 1024)
        XCTAssertEqual(config.limits.maxConnections, 0, "0 = sized from the descriptor limit at start")
        XCTAssertEqual(config.limits.maxConcurrentLogins, 2)
        XCTAssertEqual(config.limits.maxQueuedLogins, 64)
        XCTAssertEqual(config.limits.idleConnectionSeconds, 300)
        XCTAssertEqual(config.limits.bodyStallSeconds, 60)
        XCTAssertEqual(config.limits.workerIdleSeconds, 300)
        XCTAssertEqual(config.limits.maxWorkerRequests, 8)
        XCTAssertEqual(config.limits.maxWaitingWorkerRequests, 32)
    }

    func testBaseFollowsHome() throws {
        XCTAssertEqual(try load(["HOME": "/srv/anki"]).baseDirectory, "/srv/anki/.syncserver")
    }

    func testExplicitSettings() throws {
        let config = try load([
            "SYNC_BASE": "/data/sync", "SYNC_HOST": "127.0.0.1", "SYNC_PORT": "27701",
            "MAX_SYNC_PAYLOAD_MEGS": "250", "SYNC_WORKER_BIN": "/opt/bin/worker",
        ])
        XCTAssertEqual(config.baseDirectory, "/data/sync")
        XCTAssertEqual(config.host, "127.0.0.1")
        XCTAssertEqual(config.port, 27701)
        XCTAssertEqual(config.maxPayloadMegs, 250)
        XCTAssertEqual(config.maxDecompressedBytes, 750 * 1024 * 1024)
        XCTAssertEqual(config.workerBinary, "/opt/bin/worker")
        XCTAssertEqual(config.folder(of: "alice"), "/data/sync/alice")
    }

    func testTildeInBaseExpandsToHome() throws {
        XCTAssertEqual(try load(["SYNC_BASE": "~/anki"]).baseDirectory, "/home/tester/anki")
    }

    func testEmptyWorkerBinaryMeansDefault() throws {
        XCTAssertNil(try load(["SYNC_WORKER_BIN": ""]).workerBinary)
    }

    func testEmptyBaseAndHostRefused() {
        assertRefused(["SYNC_BASE": ""], variable: "SYNC_BASE")
        assertRefused(["SYNC_HOST": ""], variable: "SYNC_HOST")
    }

    // MARK: users

    func testUsersReadUntilFirstGap() throws {
        let config = try load([
            "SYNC_USER1": "alice:pw", "SYNC_USER2": "bob:secret", "SYNC_USER4": "dave:ignored", "SYNC_USER0": "zero:ignored",
        ])
        XCTAssertEqual(config.users.map(\.name), ["alice", "bob"])
        XCTAssertNil(config.user(named: "dave"))
        XCTAssertNil(config.user(named: "zero"))
    }

    func testUserSplitAtFirstColon() throws {
        let config = try load(["SYNC_USER1": "bob:a:b:c"])
        XCTAssertEqual(config.users, [UserEntry(name: "bob", secret: "a:b:c", hostKey: "1b88580ec3a04073e2cb6cdefa7081e39a922678")])
    }

    func testHostKeyIsSHA1OfWholeEntry() throws {
        let config = try load(["SYNC_USER1": "alice:pw", "SYNC_USER2": "carol:pw-alice"])
        XCTAssertEqual(config.users[0].hostKey, "579e7fa764f43a98d0fa5a30dcd5401f868bbe6d")
        XCTAssertEqual(config.users[0].secret, "pw")
        XCTAssertEqual(config.user(hostKey: "579e7fa764f43a98d0fa5a30dcd5401f868bbe6d")?.name, "alice")
        XCTAssertEqual(config.user(named: "carol")?.hostKey, HostKey.derive(entry: "carol:pw-alice"))
        XCTAssertNil(config.user(hostKey: "0000000000000000000000000000000000000000"))
    }

    func testHostKeyDerive() {
        XCTAssertEqual(HostKey.derive(entry: "alice:pw"), "579e7fa764f43a98d0fa5a30dcd5401f868bbe6d")
        XCTAssertEqual(HostKey.derive(entry: "alice:pw-alice"), "689fcf771ed369d46023ce09b1d60b5c49fd10fc")
        XCTAssertEqual(Hex.encode([0x00, 0x0f, 0xf0, 0xff, 0xa5]), "000ff0ffa5")
        XCTAssertEqual(Hex.encode([UInt8]()), "")
    }

    func testNoUsersRefusedNamingSyncUser1() {
        assertRefused([:], variable: "SYNC_USER1", dropping: ["SYNC_USER1"])
        // A gap before the first entry means no users at all.
        assertRefused(["SYNC_USER2": "bob:pw"], variable: "SYNC_USER1", dropping: ["SYNC_USER1"])
    }

    func testEntryWithoutColonRefused() {
        assertRefused(["SYNC_USER1": "alice"], variable: "SYNC_USER1")
        assertRefused(["SYNC_USER2": "bobpassword"], variable: "SYNC_USER2")
    }

    func testEmptyNameRefused() {
        assertRefused(["SYNC_USER1": ":pw"], variable: "SYNC_USER1")
    }

    func testEmptyPlaintextPasswordRefused() {
        assertRefused(["SYNC_USER1": "alice:"], variable: "SYNC_USER1")
    }

    func testDuplicateNameRefusedNamingTheSecondVariable() {
        assertRefused(["SYNC_USER2": "bob:x", "SYNC_USER3": "alice:other"], variable: "SYNC_USER3")
    }

    func testUnsafeNamesRefused() {
        for name in [".", "..", ".hidden", "a/b", "a\\b", "a\u{0}b", "tab\tname", "new\nline", "/abs", String(repeating: "x", count: 256)] {
            guard let error = refusal(["SYNC_USER2": "\(name):pw"]) else { continue }
            XCTAssertEqual(error.variable, "SYNC_USER2", "name \(name.debugDescription): \(error)")
        }
    }

    func testUnusualButSafeNamesAccepted() throws {
        let names = ["a.b", "user-1", "Ünïcödé", "with space", String(repeating: "x", count: 255)]
        var env: [String: String] = [:]
        for (i, n) in names.enumerated() { env["SYNC_USER\(i + 1)"] = "\(n):pw" }
        XCTAssertEqual(try load(env).users.map(\.name), names)
    }

    // MARK: PASSWORDS_HASHED

    static let alicePHC = "$pbkdf2-sha256$i=600000,l=32$tonuvYGpksNFQBlEmm3lxg$xeYya/aDm+S3aEALiJqNbRzOf0r9WEUJYO0bmVGjamo"

    func testHashedPasswordsAccepted() throws {
        let entry = "alice:\(Self.alicePHC)"
        let config = try load(["PASSWORDS_HASHED": "1", "SYNC_USER1": entry])
        XCTAssertTrue(config.passwordsHashed)
        XCTAssertEqual(config.users[0].secret, Self.alicePHC)
        XCTAssertEqual(config.users[0].hostKey, HostKey.derive(entry: entry))
    }

    func testAnyValueOfPasswordsHashedCounts() throws {
        XCTAssertTrue(try load(["PASSWORDS_HASHED": "", "SYNC_USER1": "alice:\(Self.alicePHC)"]).passwordsHashed)
    }

    func testHashedWithMalformedPHCRefused() {
        assertRefused(["PASSWORDS_HASHED": "1", "SYNC_USER1": "alice:plain"], variable: "SYNC_USER1")
        assertRefused(["PASSWORDS_HASHED": "1", "SYNC_USER1": "alice:\(Self.alicePHC)",
                       "SYNC_USER2": "bob:$pbkdf2$i=1000,l=20$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"], variable: "SYNC_USER2")
        assertRefused(["PASSWORDS_HASHED": "1", "SYNC_USER1": "alice:"], variable: "SYNC_USER1")
    }

    // MARK: numbers

    func testBadPortRefused() {
        for bad in ["abc", "0", "70000", "-1", "65536", "", "80.5"] {
            guard let error = refusal(["SYNC_PORT": bad]) else { continue }
            XCTAssertEqual(error.variable, "SYNC_PORT", "value \(bad)")
        }
    }

    func testPortBoundsAndWhitespace() throws {
        XCTAssertEqual(try load(["SYNC_PORT": "1"]).port, 1)
        XCTAssertEqual(try load(["SYNC_PORT": "65535"]).port, 65535)
        XCTAssertEqual(try load(["SYNC_PORT": " 8081 "]).port, 8081)
    }

    func testBadPayloadMegsRefused() {
        for bad in ["0", "-1", "x", "1301", ""] {
            guard let error = refusal(["MAX_SYNC_PAYLOAD_MEGS": bad]) else { continue }
            XCTAssertEqual(error.variable, "MAX_SYNC_PAYLOAD_MEGS", "value \(bad)")
        }
        XCTAssertEqual(try? load(["MAX_SYNC_PAYLOAD_MEGS": "1"]).maxPayloadMegs, 1)
        XCTAssertEqual(try? load(["MAX_SYNC_PAYLOAD_MEGS": "1300"]).maxPayloadMegs, 1300)
    }

    func testExtraLimits() throws {
        typealias L = ServerConfig.Limits
        let cases: [(String, ClosedRange<Int>, WritableKeyPath<L, Int>)] = [
            ("SYNC_HEAD_TIMEOUT_SECS", 1...3600, \.headTimeoutSeconds),
            ("SYNC_MAX_CONNECTIONS", 0...1_000_000, \.maxConnections),
            ("SYNC_MAX_CONCURRENT_LOGINS", 1...64, \.maxConcurrentLogins),
            ("SYNC_IDLE_CONNECTION_SECS", 1...86400, \.idleConnectionSeconds),
            ("SYNC_BODY_STALL_SECS", 1...3600, \.bodyStallSeconds),
            ("SYNC_WORKER_IDLE_SECS", 1...(86400 * 30), \.workerIdleSeconds),
            ("SYNC_WORKER_MAX_REQUESTS", 1...256, \.maxWorkerRequests),
            ("SYNC_WORKER_HOLD_MS", 0...5_000, \.workerHoldMillis),
        ]
        for (variable, range, keyPath) in cases {
            // Both bounds and a middle value are taken, and only that field changes.
            for value in [range.lowerBound, range.upperBound, (range.lowerBound + range.upperBound) / 2] {
                let limits = try load([variable: String(value)]).limits
                var expected = L()
                expected[keyPath: keyPath] = value
                XCTAssertEqual(limits, expected, "\(variable)=\(value)")
            }
            for bad in [String(range.lowerBound - 1), String(range.upperBound + 1), "ten", "", "5s"] {
                guard let error = refusal([variable: bad]) else { continue }
                XCTAssertEqual(error.variable, variable, "\(variable)=\(bad)")
            }
        }
    }

    func testMetricsAddress() throws {
        XCTAssertNil(try load([:]).metricsAddress, "metrics are off by default")
        let v4 = try load(["SYNC_METRICS_ADDR": "127.0.0.1:9180"]).metricsAddress
        XCTAssertEqual(v4?.host, "127.0.0.1")
        XCTAssertEqual(v4?.port, 9180)
        XCTAssertEqual(try load(["SYNC_METRICS_ADDR": "[::1]:9180"]).metricsAddress?.host, "::1")
        for bad in ["9180", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":9180", "host:port"] {
            assertRefused(["SYNC_METRICS_ADDR": bad], variable: "SYNC_METRICS_ADDR")
        }
    }

    func testLogFormat() throws {
        XCTAssertEqual(try load(["SYNC_LOG_FORMAT": "json"]).logFormat, .json)
        XCTAssertEqual(try load(["SYNC_LOG_FORMAT": "text"]).logFormat, .text)
        assertRefused(["SYNC_LOG_FORMAT": "xml"], variable: "SYNC_LOG_FORMAT")
        assertRefused(["SYNC_LOG_FORMAT": ""], variable: "SYNC_LOG_FORMAT")
    }

    func testLimitsCodableRoundTrip() throws {
        var limits = ServerConfig.Limits()
        limits.maxConnections = 999
        limits.workerIdleSeconds = 7
        let data = try JSONEncoder().encode(limits)
        XCTAssertEqual(try JSONDecoder().decode(ServerConfig.Limits.self, from: data), limits)
    }
}
