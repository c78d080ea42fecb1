import Foundation
import Glibc
import XCTest
@testable import Shared

final class WorkerSpawnerTests: XCTestCase {
    func testStatusDescriptions() {
        XCTAssertEqual(WorkerSpawner.describe(status: 0), "exit 0")
        XCTAssertEqual(WorkerSpawner.describe(status: 3 << 8), "exit 3")
        XCTAssertEqual(WorkerSpawner.describe(status: 9), "signal 9")
        XCTAssertEqual(WorkerSpawner.describe(status: 15 | 0x80), "signal 15", "core-dump bit ignored")
        XCTAssertEqual(WorkerSpawner.describe(status: 31), "signal 31: worker killed by the sandbox (SIGSYS)")
        XCTAssertTrue(WorkerSpawner.exitedCleanly(status: 0))
        XCTAssertFalse(WorkerSpawner.exitedCleanly(status: 1 << 8))
        XCTAssertFalse(WorkerSpawner.exitedCleanly(status: 9))
    }

    func testDefaultBinary() {
        XCTAssertEqual(WorkerSpawner.defaultBinary(override: "/opt/w"), "/opt/w")
        let path = WorkerSpawner.defaultBinary(override: nil)
        XCTAssertTrue(path.hasSuffix("/anki-sync-worker"), path)
        XCTAssertTrue(path.hasPrefix("/"), path)
    }

    func testSpawnPassesUserAndChannelOnDescriptor3() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spawn-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("fake-worker")
        // One write on descriptor 3 is one channel message: version 4, kind 5 (shutdown), reason =
        // argv[1], whether descriptor $LEAK reached the child, its worker marker, and whether it
        // leads its own process group.
        try """
            #!/bin/sh
            if [ -e /proc/$$/fd/$LEAK ]; then leak=leaked; else leak=clean; fi
            set -- "$1" $(cat /proc/$$/stat)
            if [ "$6" = "$$" ]; then group=own-group; else group=shared-group; fi
            printf '\\004\\005%s %s %s %s' "$1" "$leak" "$ANKI_SYNC_WORKER_CHANNEL" "$group" >&3
            exit 7

            """.write(to: script, atomically: true, encoding: .utf8)
        XCTAssertEqual(chmod(script.path, 0o755), 0)
        // A descriptor someone forgot to mark close-on-exec must not reach the worker.
        let leak = open("/dev/null", O_RDONLY)
        XCTAssertGreaterThan(leak, 3)
        defer { close(leak) }

        let (mine, theirs) = try ChannelSocket.pair()
        defer { close(mine.fd) }
        let pid = try WorkerSpawner.spawn(binary: script.path, user: "alice", channel: theirs,
                                          environment: ["PATH": "/usr/bin:/bin", "LEAK": String(leak)])
        close(theirs.fd)
        XCTAssertGreaterThan(pid, 0)
        guard case .message(let message, let fd) = try mine.receive() else { return XCTFail("no message from the child") }
        XCTAssertEqual(message, .shutdown(reason: "alice clean 3 own-group"))
        XCTAssertEqual(fd, -1)
        var status: Int32 = 0
        XCTAssertEqual(waitpid(pid, &status, 0), pid)
        XCTAssertEqual(WorkerSpawner.describe(status: status), "exit 7")
        // The child held the only other copy: the channel is closed now.
        guard case .closed = try mine.receive() else { return XCTFail("expected closed") }
    }

    func testSpawnOfMissingBinaryThrows() throws {
        let (mine, theirs) = try ChannelSocket.pair()
        defer {
            close(mine.fd)
            close(theirs.fd)
        }
        XCTAssertThrowsError(try WorkerSpawner.spawn(binary: "/nonexistent/anki-sync-worker", user: "alice", channel: theirs, environment: [:])) {
            XCTAssertEqual(($0 as? SystemError)?.code, ENOENT)
        }
    }
}

final class HTTPResponseTests: XCTestCase {
    func testHead() {
        let head = HTTPResponse.head(status: 200, headers: [("anki-original-size", "12"), ("transfer-encoding", "chunked")])
        XCTAssertEqual(String(decoding: head, as: UTF8.self),
                       "HTTP/1.1 200 OK\r\nanki-original-size: 12\r\ntransfer-encoding: chunked\r\n\r\n")
        XCTAssertEqual(String(decoding: HTTPResponse.head(status: 405, headers: [("allow", "POST")], close: true), as: UTF8.self),
                       "HTTP/1.1 405 Method Not Allowed\r\nallow: POST\r\nconnection: close\r\n\r\n")
    }

    func testTextResponse() {
        XCTAssertEqual(String(decoding: HTTPResponse.text(status: 403, "403"), as: UTF8.self),
                       "HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 3\r\n\r\n403")
        let body = "unknown méthod"
        let text = String(decoding: HTTPResponse.text(status: 400, body, close: true, extraHeaders: [("x-a", "b")]), as: UTF8.self)
        XCTAssertEqual(text, "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: \(body.utf8.count)\r\nx-a: b\r\nconnection: close\r\n\r\n\(body)")
    }

    func testReasons() {
        for (status, reason) in [(308, "Permanent Redirect"), (408, "Request Timeout"), (409, "Conflict"), (413, "Content Too Large"),
                                 (431, "Request Header Fields Too Large"), (500, "Internal Server Error"), (501, "Not Implemented"),
                                 (503, "Service Unavailable"), (505, "HTTP Version Not Supported"), (404, "Not Found")] {
            XCTAssertEqual(HTTPResponse.reason(status), reason)
        }
        XCTAssertFalse(HTTPResponse.reason(299).isEmpty)
    }
}

final class WorkerEnvironmentTests: XCTestCase {
    func testSecretsAreRemoved() {
        let env = ["SYNC_USER1": "alice:pw", "SYNC_USER12": "bob:x", "PASSWORDS_HASHED": "1",
                   "SYNC_BASE": "/data", "PATH": "/bin", "SYNC_LOG_FORMAT": "json"]
        XCTAssertEqual(WorkerSpawner.workerEnvironment(env), ["SYNC_BASE": "/data", "PATH": "/bin", "SYNC_LOG_FORMAT": "json"])
    }
}
