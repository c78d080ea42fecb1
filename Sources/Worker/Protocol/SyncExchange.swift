import Shared

/// One v11 request and its response on a connection the worker holds: body decoding (chunked or
/// Content-Length, then one zstd frame) and response framing (zstd + `anki-original-size` on 2xx,
/// plain text on errors).
final class SyncExchange {
    /// How the request arrived, and so how the reply is framed: v11 (zstd both ways) or legacy
    /// (sync v8–10: a multipart form read before the handler runs; replies uncompressed).
    enum Framing {
        case v11
        case legacy(LegacyPayload)
    }

    let framing: Framing
    let head: HTTPRequestHead
    let header: SyncHeader
    let route: SyncRoute
    let reader: RequestReader
    let writer: ResponseWriter
    private var body: BodyDecoder
    private(set) var responded = false
    private(set) var status = 0
    /// What the request did, for the supervisor's metrics and device list (set by handlers).
    var event: RequestReport.Event = .none
    /// Media files stored or sent by this request.
    var mediaFiles = 0
    /// Set when the connection cannot carry another request (unread body, write failure, client asked).
    var mustClose: Bool
    private(set) var bytesIn: Int
    private(set) var bytesOut = 0

    init(head: HTTPRequestHead, headBytes: Int, header: SyncHeader, route: SyncRoute, reader: RequestReader,
         framing: Framing = .v11) {
        self.framing = framing
        self.head = head
        self.header = header
        self.route = route
        self.reader = reader
        self.writer = ResponseWriter(connection: reader.connection)
        self.body = BodyDecoder(framing: head.bodyFraming)
        self.mustClose = !head.keepAlive
        self.bytesIn = headBytes
    }

    var isLegacy: Bool {
        if case .legacy = framing { return true }
        return false
    }

    /// Legacy requests: the form was read whole before the handler ran — except for GET
    /// msync/begin, whose body (it should have none) is never read, so the connection must close.
    var bodyFullyRead: Bool {
        if isLegacy { return head.method != "GET" || head.bodyFraming == .none }
        return body.isDone
    }

    /// Counts body bytes read before the exchange existed (a legacy form).
    func addBytesIn(_ n: Int) { bytesIn += n }

    /// Streams the decompressed body to `sink`. Throws `ZstdError` for bad or oversized data
    /// (legacy gzip data: `HTTPError` 400).
    func streamBody(decompressedLimit: Int, compressedLimit: Int, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        if case .legacy(let payload) = framing {
            try payload.stream(limit: decompressedLimit, sink: sink)
            return
        }
        let zstd = ZstdDecompressor(limit: decompressedLimit)
        try reader.readBody(&body) { chunk in
            bytesIn += chunk.count
            if bytesIn > compressedLimit { throw ZstdError.outputLimit(compressedLimit) }
            try zstd.feed(chunk, sink: sink)
        }
        try zstd.finish()
    }

    /// Reads the whole body and decompresses it, within this method's limit (`RequestLimits`);
    /// 400 on bad framing or data, and naming the limit when it is passed.
    func readBody(limit: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        do {
            try streamBody(decompressedLimit: limit, compressedLimit: limit) { out.append(contentsOf: $0) }
        } catch ZstdError.outputLimit {
            throw HTTPError(400, "\(route.methodName): request body larger than the limit of \(limit) bytes for this method")
        } catch let error as ZstdError {
            throw HTTPError(400, "\(route.methodName): request body: \(error)")
        }
        return out
    }

    /// Reads and discards what is left of the body, up to `limit` bytes; false if more remained.
    func discardBody(limit: Int) -> Bool {
        if isLegacy { return true }
        var seen = 0
        do {
            try reader.readBody(&body) { chunk in
                seen += chunk.count
                bytesIn += chunk.count
                if seen > limit { throw DiscardLimitReached() }
            }
            return true
        } catch {
            return false
        }
    }

    private struct DiscardLimitReached: Error {}

    // MARK: responses

    /// zstd level of every response. The reference uses 3; on a 1,000-object chunk (250 KB of
    /// JSON) level 1 compressed in 0.38 ms instead of 0.97, decompressed in half the time on the
    /// client, and came out smaller (61 KB against 71 KB).
    static let responseLevel: Int32 = 1

    /// A 2xx payload: one zstd frame with `anki-original-size`.
    func respond(payload: [UInt8]) throws {
        if isLegacy {
            let headBytes = HTTPResponse.head(status: 200, headers: [
                ("content-type", "application/octet-stream"),
                ("content-length", String(payload.count)),
            ], close: mustClose)
            try send(status: 200, headBytes + payload)
            return
        }
        let compressed = ZstdCompressor.compress(payload, level: Self.responseLevel)
        let headBytes = HTTPResponse.head(status: 200, headers: [
            ("content-type", "application/octet-stream"),
            ("anki-original-size", String(payload.count)),
            ("content-length", String(compressed.count)),
        ], close: mustClose)
        try send(status: 200, headBytes + compressed)
    }

    func respond(json: String) throws { try respond(payload: Array(json.utf8)) }

    /// A plain-text 2xx payload (full upload answers `OK` or a sentence the client shows).
    func respond(text: String) throws { try respond(payload: Array(text.utf8)) }

    /// An error: plain text, never compressed (clients classify errors by status only).
    func respondError(status: Int, _ message: String) throws {
        if !bodyFullyRead { mustClose = true }
        try send(status: status, HTTPResponse.text(status: status, message, close: mustClose))
    }

    /// A large 2xx payload of known size, compressed as it is produced and sent chunked.
    func respondStream(originalSize: Int, level: Int32 = responseLevel, produce: (_ emit: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        precondition(!responded)
        if isLegacy {
            try respondPlainStream(size: originalSize, produce: produce)
            return
        }
        responded = true
        status = 200
        let headBytes = HTTPResponse.head(status: 200, headers: [
            ("content-type", "application/octet-stream"),
            ("anki-original-size", String(originalSize)),
            ("transfer-encoding", "chunked"),
        ], close: mustClose)
        do {
            try writer.write(headBytes)
            bytesOut += headBytes.count
            let zstd = ZstdCompressor(level: level, pledgedSize: UInt64(originalSize))
            let forward: (UnsafeRawBufferPointer) throws -> Void = { chunk in
                try self.writer.writeChunk(chunk)
                self.bytesOut += chunk.count
            }
            try produce { try zstd.feed($0, sink: forward) }
            try zstd.finish(sink: forward)
            try writer.endChunks()
        } catch {
            // The head is out: the only way to signal failure now is to cut the connection.
            mustClose = true
            throw error
        }
    }

    /// Legacy replies: the payload as is, with its length in the head.
    private func respondPlainStream(size: Int, produce: (_ emit: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        responded = true
        status = 200
        let headBytes = HTTPResponse.head(status: 200, headers: [
            ("content-type", "application/octet-stream"),
            ("content-length", String(size)),
        ], close: mustClose)
        do {
            try writer.write(headBytes)
            bytesOut += headBytes.count
            var sent = 0
            try produce { chunk in
                guard sent + chunk.count <= size else { throw InternalError("reply longer than announced") }
                try self.writer.write(chunk)
                sent += chunk.count
                self.bytesOut += chunk.count
            }
            guard sent == size else { throw InternalError("reply shorter than announced") }
        } catch {
            mustClose = true
            throw error
        }
    }

    private func send(status: Int, _ bytes: [UInt8]) throws {
        precondition(!responded)
        responded = true
        self.status = status
        do { try writer.write(bytes) } catch {
            mustClose = true
            throw error
        }
        bytesOut += bytes.count
    }
}
