import Foundation
import XCTest
@testable import Shared
@testable import Supervisor

final class InvocationTests: XCTestCase {
    func parse(_ args: [String], file: StaticString = #filePath, line: UInt = #line) -> Invocation? {
        do { return try Invocation.parse(args) } catch {
            XCTFail("refused \(args): \(error)", file: file, line: line)
            return nil
        }
    }

    func assertRefused(_ args: [String], mentioning: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let inv = try Invocation.parse(args)
            XCTFail("accepted \(args) as \(inv)", file: file, line: line)
        } catch {
            XCTAssertTrue(error.description.contains(mentioning), error.description, file: file, line: line)
        }
    }

    func testDefaultIsServe() {
        XCTAssertEqual(parse([]), Invocation(command: .serve, envFile: nil))
    }

    func testFlags() {
        XCTAssertEqual(parse(["--healthcheck"])?.command, .healthcheck)
        XCTAssertEqual(parse(["--version"])?.command, .version)
        XCTAssertEqual(parse(["-V"])?.command, .version)
        XCTAssertEqual(parse(["--help"])?.command, .help)
        XCTAssertEqual(parse(["-h"])?.command, .help)
    }

    func testEnvFileForms() {
        XCTAssertEqual(parse(["--env-file", "/etc/anki.env"]), Invocation(command: .serve, envFile: "/etc/anki.env"))
        XCTAssertEqual(parse(["--env-file=/etc/anki.env"]), Invocation(command: .serve, envFile: "/etc/anki.env"))
        XCTAssertEqual(parse(["--env-file=a=b.env"])?.envFile, "a=b.env")
        XCTAssertEqual(parse(["--env-file", "--weird-name"])?.envFile, "--weird-name")
        XCTAssertEqual(parse(["--healthcheck", "--env-file", "x.env"]), Invocation(command: .healthcheck, envFile: "x.env"))
        XCTAssertEqual(parse(["--env-file", "x.env", "--healthcheck"]), Invocation(command: .healthcheck, envFile: "x.env"))
        XCTAssertEqual(parse(["--env-file", "a.env", "--env-file=b.env"])?.envFile, "b.env")
    }

    func testEnvFileWithoutValueRefused() {
        assertRefused(["--env-file"], mentioning: "--env-file")
        assertRefused(["--healthcheck", "--env-file"], mentioning: "--env-file")
    }

    func testUnknownArgumentsRefused() {
        assertRefused(["--verbose"], mentioning: "--verbose")
        assertRefused(["serve"], mentioning: "serve")
        assertRefused(["--env-file", "a.env", "extra"], mentioning: "extra")
        assertRefused(["--env-filex=a"], mentioning: "--env-filex=a")
        assertRefused(["-v"], mentioning: "-v")
        assertRefused([""], mentioning: "''")
    }

    func testUsageMentionsEveryFlag() {
        for flag in ["--env-file", "--healthcheck", "--version", "--help"] {
            XCTAssertTrue(Invocation.usage.contains(flag), flag)
        }
    }

    func testEnvironmentLaysFileOverProcessEnvironment() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("invocation-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("sync.env")
        try "# test\nSYNC_USER1=alice:pw\nexport SYNC_PORT=\"9090\"\n".write(to: file, atomically: true, encoding: .utf8)

        setenv("SYNC_USER2", "stale:from-process", 1)
        setenv("SYNC_TEST_MARKER", "kept", 1)
        defer {
            unsetenv("SYNC_USER2")
            unsetenv("SYNC_TEST_MARKER")
        }
        let env = try Invocation(command: .serve, envFile: file.path).environment()
        XCTAssertEqual(env["SYNC_USER1"], "alice:pw")
        XCTAssertEqual(env["SYNC_PORT"], "9090")
        XCTAssertNil(env["SYNC_USER2"], "users come from the file alone")
        XCTAssertEqual(env["SYNC_TEST_MARKER"], "kept")

        // Without an env file the process environment is used as is.
        let plain = try Invocation().environment()
        XCTAssertEqual(plain["SYNC_USER2"], "stale:from-process")
    }

    func testEnvironmentKeepsProcessUsersWhenFileHasNone() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("invocation2-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("sync.env")
        try "SYNC_PORT=9091\n".write(to: file, atomically: true, encoding: .utf8)
        setenv("SYNC_USER1", "carol:pw", 1)
        defer { unsetenv("SYNC_USER1") }
        let env = try Invocation(command: .serve, envFile: file.path).environment()
        XCTAssertEqual(env["SYNC_USER1"], "carol:pw")
        XCTAssertEqual(env["SYNC_PORT"], "9091")
    }

    func testEnvironmentErrors() {
        XCTAssertThrowsError(try Invocation(command: .serve, envFile: "/nonexistent/dir/sync.env").environment()) {
            XCTAssertEqual(($0 as? ConfigError)?.variable, "--env-file")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("invocation3-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("bad.env")
        try? "GOOD=1\nthis line is bad\n".write(to: file, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Invocation(command: .serve, envFile: file.path).environment()) {
            XCTAssertEqual(($0 as? ConfigError)?.variable, "line 2")
        }
    }
}

final class SubcommandParsingTests: XCTestCase {
    func testSubcommands() throws {
        XCTAssertEqual(try Invocation.parse(["status"]).command, .status(json: false))
        XCTAssertEqual(try Invocation.parse(["status", "--json"]).command, .status(json: true))
        XCTAssertEqual(try Invocation.parse(["--env-file", "/etc/a.env", "reload"]),
                       Invocation(command: .reload, envFile: "/etc/a.env"))
        XCTAssertEqual(try Invocation.parse(["restart", "alice"]).command, .restart(user: "alice", now: false))
        XCTAssertEqual(try Invocation.parse(["restart", "--now", "alice"]).command, .restart(user: "alice", now: true))
        XCTAssertEqual(try Invocation.parse(["restart", "alice", "--now"]).command, .restart(user: "alice", now: true))
        XCTAssertThrowsError(try Invocation.parse(["status", "--now"]))
    }

    func testSubcommandMistakes() {
        XCTAssertThrowsError(try Invocation.parse(["restart"]))
        XCTAssertThrowsError(try Invocation.parse(["restart", "--json"]))
        XCTAssertThrowsError(try Invocation.parse(["--json"]))
        XCTAssertThrowsError(try Invocation.parse(["status", "reload"]))
    }
}

final class ControlCodingTests: XCTestCase {
    func testRequestAndReplyRoundTrip() throws {
        let request = ControlRequest(command: .restart, user: "alice")
        let line = request.encodedLine()
        XCTAssertEqual(line.last, 10)
        XCTAssertEqual(try ControlCoding.decode(ControlRequest.self, from: Array(line.dropLast())), request)
        let status = ServerStatus(pid: 7, version: "1", uptimeSeconds: 3, users: [
            UserStatus(user: "alice", state: "running", workerPid: 9, workerUptimeSeconds: 2, activeSyncSession: true,
                       lastRequestMillis: 1_796_000_000_000, requestsServed: 4, consecutiveCrashes: 0, backoffSeconds: nil,
                       isolation: WorkerIsolation(landlockAbi: 7, seccomp: true, noNewPrivs: true)),
        ])
        let reply = ControlReply(ok: true, message: "ok", status: status)
        let text = String(decoding: reply.encodedLine(), as: UTF8.self)
        XCTAssertTrue(text.contains("\"worker_pid\":9"), text)
        XCTAssertTrue(text.contains("\"isolation\":{\"landlock_abi\":7,\"no_new_privs\":true,\"seccomp\":true}"), text)
        XCTAssertTrue(ControlCommands.render(status).contains("landlock 7, seccomp, nnp"), ControlCommands.render(status))
        XCTAssertEqual(try ControlCoding.decode(ControlReply.self, from: reply.encodedLine()), reply)
    }

    func testStatusTable() {
        let status = ServerStatus(pid: 7, version: "1", uptimeSeconds: 3725, users: [
            UserStatus(user: "alice", state: "backoff", workerPid: nil, workerUptimeSeconds: nil, activeSyncSession: false,
                       lastRequestMillis: nil, requestsServed: 0, consecutiveCrashes: 3, backoffSeconds: 4),
        ])
        let text = ControlCommands.render(status)
        XCTAssertTrue(text.hasPrefix("anki-sync-server 1, pid 7, up 1h2m"), text)
        XCTAssertTrue(text.contains("backoff (4 s)"), text)
    }
}

final class MaintenanceParsingTests: XCTestCase {
    func testSnapshotAndRestore() throws {
        XCTAssertEqual(try Invocation.parse(["snapshot", "alice", "/b/x"]).command, .snapshot(user: "alice", path: "/b/x"))
        XCTAssertEqual(try Invocation.parse(["restore", "alice", "/b/x"]).command, .restore(user: "alice", path: "/b/x"))
        guard case .snapshot(_, let relative) = try Invocation.parse(["snapshot", "alice", "rel"]).command else {
            return XCTFail("not a snapshot")
        }
        XCTAssertTrue(relative.hasPrefix("/") && relative.hasSuffix("/rel"), relative)
        XCTAssertThrowsError(try Invocation.parse(["snapshot", "alice"]))
    }
}

extension InvocationTests {
    func testUserCommands() {
        XCTAssertEqual(parse(["--env-file", "f", "user", "add", "bob"]), Invocation(command: .user(.add("bob")), envFile: "f"))
        XCTAssertEqual(parse(["user", "passwd", "bob"])?.command, .user(.passwd("bob")))
        XCTAssertEqual(parse(["user", "remove", "bob"])?.command, .user(.remove("bob")))
        XCTAssertEqual(parse(["user", "list"])?.command, .user(.list))
        XCTAssertEqual(parse(["user", "add", "bob", "--hash-existing"])?.hashExisting, true)
        XCTAssertEqual(parse(["hash-password"])?.command, .hashPassword)
        assertRefused(["user"], mentioning: "add NAME")
        assertRefused(["user", "delete", "bob"], mentioning: "add NAME")
        assertRefused(["user", "add"], mentioning: "needs a user name")
        assertRefused(["user", "add", "bob", "secret"], mentioning: "unknown argument 'secret'")
    }
}
