import Archive
/// The fields of a legacy (sync v8–10) form other than `data` (PROTOCOL.md §3).
public struct LegacyFields: Sendable, Equatable {
    /// `k`, or its synonym `sk` (old media clients echo the `sk` from `msync/begin`).
    public var hostKey: String?
    /// `s`: the collection-sync session key.
    public var sessionKey = ""
    /// `c`: "0" means `data` is not compressed; any other value means gzip. Absent: not compressed.
    public var compressed = false
    /// `v`: the client version (only `msync/begin` uses it).
    public var clientVersion: String?
    /// Whether a `data` part was present.
    public var sawData = false

    public init() {}

    /// The query of the legacy `GET /msync/begin?k=…&v=…`.
    public init(query: Substring?) {
        for pair in (query ?? "").split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(kv[0])
            let value = kv.count > 1 ? Self.percentDecode(kv[1]) : ""
            switch name {
            case "k", "sk": hostKey = value
            case "v": clientVersion = value
            default: break
            }
        }
    }

    static func percentDecode(_ s: Substring) -> String {
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "%"), i + 2 < b.count, let h = hex(b[i + 1]), let l = hex(b[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(b[i] == UInt8(ascii: "+") ? 0x20 : b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }

    /// The JSON payload of a small request: empty or absent `data` counts as `{}`; gzip inflated
    /// (up to `limit` bytes) when `c` says so.
    public func payload(_ data: [UInt8], limit: Int) throws(HTTPError) -> [UInt8] {
        if data.isEmpty { return Array("{}".utf8) }
        guard compressed else {
            guard data.count <= limit else { throw HTTPError(400, "data field larger than \(limit) bytes") }
            return data
        }
        do { return try GzipInflater.inflate(data, limit: limit) } catch let error as GzipError {
            throw HTTPError(400, "data field (c=1): \(error)")
        } catch {
            throw HTTPError(400, "data field (c=1): \(error)")
        }
    }
}

/// Reads the parts of a legacy form (already de-framed body bytes): keeps the small fields, and
/// hands the bytes of the `data` part (still compressed, as sent) to the caller's sink.
public struct LegacyFormParser: Sendable {
    public private(set) var fields = LegacyFields()
    var parser: Multipart.Parser
    var current: String?
    var value: [UInt8] = []
    public static let maxFieldBytes = 4096

    public init(boundary: [UInt8]) {
        parser = Multipart.Parser(boundary: boundary)
    }

    public var isComplete: Bool { parser.isComplete }

    public mutating func feed(_ input: UnsafeRawBufferPointer, data sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var p = parser
        var name = current
        var v = value
        var f = fields
        defer {
            parser = p
            current = name
            value = v
            fields = f
        }
        try p.feed(input) { event in
            switch event {
            case .begin(let n):
                name = n
                v = []
                if n == "data" { f.sawData = true }
            case .data(let bytes):
                if name == "data" {
                    try sink(bytes)
                } else if ["k", "sk", "s", "c", "v"].contains(name ?? "") {
                    guard v.count + bytes.count <= Self.maxFieldBytes else {
                        throw HTTPError(400, "multipart field \(name ?? "") larger than \(Self.maxFieldBytes) bytes")
                    }
                    v.append(contentsOf: bytes)
                }
            case .end:
                let text = String(decoding: v, as: UTF8.self)
                switch name {
                case "k", "sk": f.hostKey = text
                case "s": f.sessionKey = text
                case "c": f.compressed = text != "0"
                case "v": f.clientVersion = text
                default: break
                }
                name = nil
                v = []
            }
        }
    }

    /// The body ended: the closing delimiter must have been seen.
    public func finish() throws { try parser.finish() }
}
