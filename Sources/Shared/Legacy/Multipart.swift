/// multipart/form-data as sync protocol versions 8–10 send it (PROTOCOL.md §3): a streaming parser
/// both processes use — the supervisor to find the host key in the first bytes of a form, the
/// worker to read a whole form whose `data` part may be a collection or a media zip.
public enum Multipart {
    /// The boundary of a `multipart/form-data; boundary=…` content type (quoted or not).
    public static func boundary(contentType: String?) throws(HTTPError) -> [UInt8] {
        guard let contentType else { throw HTTPError(400, "legacy request without a content-type: expected multipart/form-data") }
        let parts = contentType.split(separator: ";", omittingEmptySubsequences: false)
        guard let first = parts.first, first.legacyTrimmed().lowercased() == "multipart/form-data" else {
            throw HTTPError(400, "legacy request body is not multipart/form-data (content-type: \(contentType.prefix(100)))")
        }
        for param in parts.dropFirst() {
            let kv = param.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, kv[0].legacyTrimmed().lowercased() == "boundary" else { continue }
            var value = Substring(kv[1].legacyTrimmed())
            if value.hasPrefix("\"") {
                guard value.count >= 2, value.hasSuffix("\"") else { throw HTTPError(400, "malformed multipart boundary: unbalanced quotes") }
                value = value.dropFirst().dropLast()
            }
            let bytes = Array(value.utf8)
            // RFC 2046: 1–70 characters, no control characters; a boundary with CR/LF could never match.
            guard (1...70).contains(bytes.count), bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else {
                throw HTTPError(400, "malformed multipart boundary (must be 1–70 printable characters)")
            }
            return bytes
        }
        throw HTTPError(400, "malformed multipart content-type: no boundary parameter")
    }

    /// What the parser reports, in order: a part starts (with its form name), its bytes, its end.
    public enum Event {
        case begin(name: String)
        case data(UnsafeRawBufferPointer)
        case end
    }

    /// Incremental parser. Feed body bytes as they arrive; `finish()` when the body has ended.
    public struct Parser: Sendable {
        enum State: Sendable {
            case preamble
            case afterDelimiter
            case headers
            case body
            case epilogue
        }

        let delimiter: [UInt8]          // "\r\n--" + boundary
        var state: State = .preamble
        /// Bytes not yet interpreted (a possible partial delimiter, an incomplete header block).
        var pending: [UInt8] = []
        var headerBytes = 0
        var partCount = 0
        public static let maxHeaderBytes = 16 * 1024
        public static let maxParts = 64
        public static let maxPreambleBytes = 16 * 1024

        public init(boundary: [UInt8]) {
            delimiter = Array("\r\n--".utf8) + boundary
            pending = [13, 10]      // so that a delimiter at the very start matches too
        }

        /// True once the closing delimiter has been seen.
        public var isComplete: Bool {
            if case .epilogue = state { return true }
            return false
        }

        public mutating func feed(_ input: UnsafeRawBufferPointer, _ handler: (Event) throws -> Void) throws {
            if case .epilogue = state { return }
            pending.append(contentsOf: input)
            var i = 0
            defer { pending.removeFirst(i) }
            let n = pending.count
            try pending.withUnsafeBytes { raw in
                loop: while i < n {
                    switch state {
                    case .preamble:
                        if let at = Self.find(delimiter, in: raw, from: i) {
                            i = at + delimiter.count
                            state = .afterDelimiter
                        } else {
                            let keep = min(n - i, delimiter.count - 1)
                            headerBytes += n - i - keep
                            i = n - keep
                            if headerBytes > Self.maxPreambleBytes { throw HTTPError(400, "malformed multipart body: boundary not found") }
                            break loop
                        }
                    case .afterDelimiter:
                        guard n - i >= 2 else { break loop }
                        if raw[i] == 0x2d && raw[i + 1] == 0x2d {       // "--": the closing delimiter
                            state = .epilogue
                            i = n
                            break loop
                        }
                        // Transport padding (spaces/tabs) may precede the CRLF.
                        var j = i
                        while j < n && (raw[j] == 0x20 || raw[j] == 0x09) { j += 1 }
                        guard n - j >= 2 else { break loop }
                        guard raw[j] == 13 && raw[j + 1] == 10 else {
                            throw HTTPError(400, "malformed multipart body: delimiter not followed by CRLF")
                        }
                        i = j + 2
                        state = .headers
                        headerBytes = 0
                    case .headers:
                        guard let end = Self.emptyHeaders(raw, i) ?? Self.find(Array("\r\n\r\n".utf8), in: raw, from: i) else {
                            headerBytes = n - i
                            if headerBytes > Self.maxHeaderBytes { throw HTTPError(400, "multipart part headers larger than \(Self.maxHeaderBytes) bytes") }
                            break loop
                        }
                        let text = String(decoding: UnsafeRawBufferPointer(rebasing: raw[i..<end]), as: UTF8.self)
                        let name = try Self.partName(headers: text)
                        partCount += 1
                        if partCount > Self.maxParts { throw HTTPError(400, "multipart body has more than \(Self.maxParts) parts") }
                        i = end == i ? i + 2 : end + 4
                        state = .body
                        try handler(.begin(name: name))
                    case .body:
                        if let at = Self.find(delimiter, in: raw, from: i) {
                            if at > i { try handler(.data(UnsafeRawBufferPointer(rebasing: raw[i..<at]))) }
                            try handler(.end)
                            i = at + delimiter.count
                            state = .afterDelimiter
                        } else {
                            // Everything except a possible start of the delimiter at the end is data.
                            var safe = n
                            let lo = max(i, n - (delimiter.count - 1))
                            for s in lo..<n where raw[s] == 13 && raw.suffix(from: s).elementsEqual(delimiter.prefix(n - s)) {
                                safe = s
                                break
                            }
                            if safe > i { try handler(.data(UnsafeRawBufferPointer(rebasing: raw[i..<safe]))) }
                            i = safe
                            break loop
                        }
                    case .epilogue:
                        i = n
                        break loop
                    }
                }
            }
        }

        /// The body ended: it must have ended with the closing delimiter.
        public func finish() throws {
            guard isComplete else {
                throw HTTPError(400, partCount == 0 ? "malformed multipart body: boundary not found"
                                                   : "malformed multipart body: no closing boundary")
            }
        }

        /// A part with no header lines at all: the CRLF right after the delimiter line.
        static func emptyHeaders(_ raw: UnsafeRawBufferPointer, _ i: Int) -> Int? {
            raw.count - i >= 2 && raw[i] == 13 && raw[i + 1] == 10 ? i : nil
        }

        static func find(_ needle: [UInt8], in raw: UnsafeRawBufferPointer, from: Int) -> Int? {
            let m = needle.count
            guard raw.count - from >= m, let first = needle.first else { return nil }
            var s = from
            let last = raw.count - m
            while s <= last {
                if raw[s] == first {
                    var k = 1
                    while k < m && raw[s + k] == needle[k] { k += 1 }
                    if k == m { return s }
                }
                s += 1
            }
            return nil
        }

        /// The `name` parameter of the part's Content-Disposition header.
        static func partName(headers: String) throws(HTTPError) -> String {
            for line in headers.split(separator: "\r\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                guard line[..<colon].legacyTrimmed().lowercased() == "content-disposition" else { continue }
                for param in line[line.index(after: colon)...].split(separator: ";").dropFirst() {
                    let kv = param.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2, kv[0].legacyTrimmed().lowercased() == "name" else { continue }
                    var value = Substring(kv[1].legacyTrimmed())
                    if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 { value = value.dropFirst().dropLast() }
                    return String(value)
                }
            }
            throw HTTPError(400, "malformed multipart part: no Content-Disposition name")
        }
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (HTTP optional whitespace).
    func legacyTrimmed() -> String {
        let scalars = Array(unicodeScalars)
        var lo = 0, hi = scalars.count
        while lo < hi && (scalars[lo] == " " || scalars[lo] == "\t") { lo += 1 }
        while hi > lo && (scalars[hi - 1] == " " || scalars[hi - 1] == "\t") { hi -= 1 }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[lo..<hi])
        return String(out)
    }
}
