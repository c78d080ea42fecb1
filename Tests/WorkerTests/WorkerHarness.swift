import Foundation
import Shared
import XCTest
@testable import Worker

/// A real `WorkerContext` on a temporary user folder, and requests served to it through
/// in-memory connections: request bytes in, response bytes out, no socket and no supervisor.
final class WorkerHarness {
    static let hostKey = "0123456789abcdef0123456789abcdef01234567"
    let folder: String
    let context: WorkerContext

    init(_ test: XCTestCase, maxPayloadMegs: Int = 100) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("worker-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let dir = folder
        test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        let hello = WorkerHello(user: "tester", folder: folder, hostKey: Self.hostKey, maxPayloadMegs: maxPayloadMegs,
                                limits: ServerConfig.Limits(), logFormat: .text)
        context = WorkerContext(hello: hello, log: Log(format: .text, process: "worker:tester"))
        test.addTeardownBlock { [context] in
            context.sessions.abortAny(reason: "test end")
            context.store.close()
            context.media.close()
        }
    }

    /// Serves raw request bytes; returns the outcome and every response on the connection.
    func serve(_ bytes: [UInt8], maxRead: Int = .max) -> (outcome: RequestDispatcher.Outcome, responses: [TestResponse], unread: [UInt8]) {
        let connection = MemoryConnection(input: bytes, maxRead: maxRead)
        let outcome = RequestDispatcher(context: context).serve(connection, prefix: [])
        return (outcome, TestResponse.parseAll(connection.output), connection.unread)
    }

    /// One v11 request; `body` is zstd-compressed unless `raw`.
    func v11(_ method: String, _ body: [UInt8], skey: String = "", hostKey: String = WorkerHarness.hostKey,
             raw: Bool = false, area: String = "sync") -> TestResponse {
        let result = serve(Self.v11Request(method, body, skey: skey, hostKey: hostKey, raw: raw, area: area))
        XCTAssertEqual(result.responses.count, 1, "one response per request")
        return result.responses.first ?? TestResponse(status: 0, headers: [:], body: [])
    }

    func v11(_ method: String, json: String, skey: String = "", area: String = "sync") -> TestResponse {
        v11(method, Array(json.utf8), skey: skey, area: area)
    }

    static func v11Request(_ method: String, _ body: [UInt8], skey: String = "", hostKey: String = WorkerHarness.hostKey,
                           raw: Bool = false, area: String = "sync", keepAlive: Bool = true) -> [UInt8] {
        let payload = raw ? body : ZstdCompressor.compress(body)
        let header = #"{"v":11,"k":"\#(hostKey)","c":"unit-test,0,linux","s":"\#(skey)"}"#
        let head = "POST /\(area)/\(method) HTTP/1.1\r\nhost: test\r\nanki-sync: \(header)\r\n"
            + "content-type: application/octet-stream\r\ncontent-length: \(payload.count)\r\n"
            + (keepAlive ? "" : "connection: close\r\n") + "\r\n"
        return Array(head.utf8) + payload
    }

    /// A sync v8–10 request: a multipart form with `k`, `s`, `c` and `data`.
    static func legacyRequest(_ method: String, data: [UInt8], skey: String = "s1", hostKey: String = WorkerHarness.hostKey) -> [UInt8] {
        let boundary = "Anki-sync-boundary"
        var body: [UInt8] = []
        for (name, value) in [("k", hostKey), ("s", skey), ("c", "0")] {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"data\"; filename=\"data\"\r\n".utf8)
        body += Array("Content-Type: application/octet-stream\r\n\r\n".utf8) + data + Array("\r\n--\(boundary)--\r\n".utf8)
        let head = "POST /sync/\(method) HTTP/1.1\r\nhost: test\r\ncontent-type: multipart/form-data; boundary=\(boundary)\r\n"
            + "content-length: \(body.count)\r\n\r\n"
        return Array(head.utf8) + body
    }
}

/// A parsed HTTP response; the body is decompressed when it carries `anki-original-size`.
struct TestResponse {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
    var isCompressed: Bool { headers["anki-original-size"] != nil }

    func json() throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], text)
    }

    static func parseAll(_ bytes: [UInt8]) -> [TestResponse] {
        var out: [TestResponse] = []
        var rest = bytes[...]
        while !rest.isEmpty, let response = parseOne(&rest) { out.append(response) }
        return out
    }

    private static func parseOne(_ rest: inout ArraySlice<UInt8>) -> TestResponse? {
        guard let end = HTTPHeadParser.headEnd(in: Array(rest)) else { return nil }
        let head = String(decoding: rest.prefix(end), as: UTF8.self)
        rest = rest.dropFirst(end)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body: [UInt8] = []
        if let length = headers["content-length"].flatMap(Int.init) {
            body = Array(rest.prefix(length))
            rest = rest.dropFirst(length)
        } else if headers["transfer-encoding"] == "chunked" {
            while let lineEnd = rest.firstIndex(of: 10) {
                let size = Int(String(decoding: rest[rest.startIndex..<(lineEnd - 1)], as: UTF8.self), radix: 16) ?? 0
                rest = rest[(lineEnd + 1)...]
                if size == 0 {
                    rest = rest.dropFirst(2)
                    break
                }
                body += rest.prefix(size)
                rest = rest.dropFirst(size + 2)
            }
        }
        if headers["anki-original-size"] != nil, let plain = try? ZstdDecompressor.decompress(body, limit: 1 << 30) {
            body = plain
        }
        return TestResponse(status: status, headers: headers, body: body)
    }
}
