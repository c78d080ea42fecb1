import Archive
import Glibc
import Shared

/// The `data` of a legacy request, as sent (gzip when `c` is not "0"): small payloads in memory,
/// larger ones spooled to an unlinked file in the user's folder, so a collection or media zip is
/// never held in memory.
final class LegacyPayload {
    private(set) var memory: [UInt8] = []
    private(set) var fd: Int32 = -1
    private(set) var size = 0
    /// Set once the whole form is read (`c` may follow `data`).
    var compressed: Bool
    let folder: String
    static let memoryLimit = 1 << 20

    init(compressed: Bool, folder: String) {
        self.compressed = compressed
        self.folder = folder
    }

    /// A payload given whole (the query of GET msync/begin, or the rewritten begin body).
    init(bytes: [UInt8], folder: String) {
        memory = bytes
        size = bytes.count
        compressed = false
        self.folder = folder
    }

    deinit { if fd >= 0 { close(fd) } }

    func append(_ chunk: UnsafeRawBufferPointer) throws {
        size += chunk.count
        if fd < 0 && memory.count + chunk.count <= Self.memoryLimit {
            memory.append(contentsOf: chunk)
            return
        }
        if fd < 0 {
            // Created and unlinked at once: the space is freed however the worker ends.
            let path = folder + "/\(UserStore.uploadPrefix)form-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp"
            fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd >= 0 { unlink(path) }
            guard fd >= 0 else { throw InternalError("cannot create a temporary file: \(String(cString: strerror(errno)))") }
            try memory.withUnsafeBytes { try Self.writeAll(fd, $0) }
            memory = []
        }
        try Self.writeAll(fd, chunk)
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        do { try FileDescriptorIO.writeAll(fd, bytes) } catch {
            throw InternalError("cannot write a temporary file: \(String(cString: strerror(error.code)))")
        }
    }

    /// The raw bytes as sent, in order.
    func readRaw(_ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard fd >= 0 else {
            try memory.withUnsafeBytes { try sink($0) }
            return
        }
        var block = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        while offset < size {
            let n = block.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw InternalError("temporary file shrank") }
            try block.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += n
        }
    }

    /// The decoded payload: `{}` when empty, gunzipped when compressed. Over `limit` decoded bytes:
    /// gzip data is refused with 400 (a bomb or simply too big); plain data throws
    /// `ZstdError.outputLimit` like a v11 body, so `upload` can answer with its size-limit text.
    func stream(limit: Int, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        if size == 0 {
            try Array("{}".utf8).withUnsafeBytes { try sink($0) }
            return
        }
        guard compressed else {
            if size >= limit { throw ZstdError.outputLimit(limit) }
            try readRaw(sink)
            return
        }
        do {
            let gzip = try GzipInflater(limit: limit - 1)
            try readRaw { try gzip.feed($0, sink: sink) }
            try gzip.finish()
        } catch let error as GzipError {
            throw HTTPError(400, "data field (c is not \"0\"): \(error)")
        }
    }
}

/// Reads a legacy request's form (or the query of GET msync/begin) before it is handled.
enum LegacyRequest {
    struct Parsed {
        var fields: LegacyFields
        var payload: LegacyPayload
        var bodyBytes: Int
    }

    static func read(head: HTTPRequestHead, route: SyncRoute, reader: RequestReader, folder: String, bodyLimit: Int) throws -> Parsed {
        if head.method == "GET" {
            let fields = LegacyFields(query: head.query)
            guard let v = fields.clientVersion else { throw HTTPError(400, "legacy GET msync/begin needs the query parameters k and v") }
            return Parsed(fields: fields, payload: LegacyPayload(bytes: beginBody(v), folder: folder), bodyBytes: 0)
        }
        let boundary = try Multipart.boundary(contentType: head.header("content-type"))
        var decoder = BodyDecoder(framing: head.bodyFraming)
        var form = LegacyFormParser(boundary: boundary)
        let payload = LegacyPayload(compressed: false, folder: folder)
        var total = 0
        try reader.readBody(&decoder) { chunk in
            total += chunk.count
            if total > bodyLimit { throw HTTPError(400, "legacy form larger than \(bodyLimit) bytes") }
            try form.feed(chunk) { try payload.append($0) }
        }
        try form.finish()
        var fields = form.fields
        // `c` normally precedes `data`, but may follow it: the flag applies once the form is read.
        payload.compressed = fields.compressed
        var result = payload
        if route == .media(.begin), let v = fields.clientVersion {
            // The reference turns the `v` field into the JSON body of begin.
            result = LegacyPayload(bytes: beginBody(v), folder: folder)
            fields.compressed = false
        }
        return Parsed(fields: fields, payload: result, bodyBytes: total)
    }

    static func beginBody(_ v: String) -> [UInt8] {
        JSON.serialize(.object(JSONObject([("v", .string(v))])))
    }
}
