import XCTest
@testable import Shared

/// SYNC_QUOTA_MEGS and SYNC_QUOTA_MEGS_<user>: off by default, per-user overrides, 0 = none.
final class QuotaConfigTests: XCTestCase {
    func load(_ env: [String: String]) throws -> ServerConfig {
        try ServerConfig.load(environment: ["HOME": "/home/t", "SYNC_USER1": "alice:pw", "SYNC_USER2": "bob:pw"].merging(env) { $1 })
    }

    func testOffByDefault() throws {
        let limits = try load([:]).limits
        XCTAssertNil(limits.quotaBytes(for: "alice"))
    }

    func testDefaultAndOverrides() throws {
        let limits = try load(["SYNC_QUOTA_MEGS": "10", "SYNC_QUOTA_MEGS_bob": "0", "SYNC_QUOTA_MEGS_alice": "3"]).limits
        XCTAssertEqual(limits.quotaBytes(for: "alice"), 3 * 1024 * 1024)
        XCTAssertNil(limits.quotaBytes(for: "bob"))
        XCTAssertEqual(try load(["SYNC_QUOTA_MEGS": "10"]).limits.quotaBytes(for: "bob"), 10 * 1024 * 1024)
        XCTAssertEqual(try load(["SYNC_QUOTA_MEGS_bob": "7"]).limits.quotaBytes(for: "bob"), 7 * 1024 * 1024)
        XCTAssertNil(try load(["SYNC_QUOTA_MEGS_bob": "7"]).limits.quotaBytes(for: "alice"))
    }

    func testMistakesNameTheVariable() {
        for (env, variable) in [(["SYNC_QUOTA_MEGS": "0"], "SYNC_QUOTA_MEGS"), (["SYNC_QUOTA_MEGS": "x"], "SYNC_QUOTA_MEGS"),
                                (["SYNC_QUOTA_MEGS_carol": "5"], "SYNC_QUOTA_MEGS_carol"),
                                (["SYNC_QUOTA_MEGS_bob": "-1"], "SYNC_QUOTA_MEGS_bob")] {
            XCTAssertThrowsError(try load(env)) { error in
                XCTAssertEqual((error as? ConfigError)?.variable, variable, "\(error)")
            }
        }
    }

    func testLimitsTravelToTheWorker() throws {
        let limits = try load(["SYNC_QUOTA_MEGS": "10", "SYNC_QUOTA_MEGS_bob": "0"]).limits
        let decoded = try JSONDecoder().decode(ServerConfig.Limits.self, from: JSONEncoder().encode(limits))
        XCTAssertEqual(decoded, limits)
    }
}
