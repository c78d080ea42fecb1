/// A parsed HTTP/1.x request head. Header names are stored lowercased.
public struct HTTPRequestHead: Sendable, Equatable {
    public var method: String
    public var target: String
    public var minorVersion: Int
    public var headers: [HTTPHeader]

    public var path: Substring {
        if let q = target.firstIndex(of: "?") { return target[..<q] }
        return target[...]
    }
    public var query: Substring? {
        guard let q = target.firstIndex(of: "?") else { return nil }
        return target[target.index(after: q)...]
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }

    /// How the body is delimited (RFC 9112 §6.3, requests only).
    public var bodyFraming: BodyFraming {
        if isChunked { return .chunked }
        if let length = contentLength, length > 0 { return .length(length) }
        return .none
    }
    public var isChunked: Bool {
        header("transfer-encoding").map { $0.lowercased().contains("chunked") } ?? false
    }
    /// The declared length; a list of identical values (`5, 5`, allowed by RFC 9110) counts as one.
    public var contentLength: Int? {
        header("content-length").flatMap { $0.split(separator: ",").first.flatMap { Int($0.trimmedWhitespace()) } }
    }

    /// Whether the client wants the connection kept open after this exchange.
    public var keepAlive: Bool {
        let connection = header("connection")?.lowercased() ?? ""
        if minorVersion == 0 { return connection.contains("keep-alive") }
        return !connection.contains("close")
    }
}

public struct HTTPHeader: Sendable, Equatable {
    public var name: String
    public var value: String
}

public enum BodyFraming: Sendable, Equatable {
    case none
    case length(Int)
    case chunked
}

/// The one error type whose status and reason the client sees: a request the server refuses
/// (bad framing, bad data, over a limit, busy). Server-side faults are not `HTTPError`s; the
/// worker reports those as "internal error <id>" and logs the detail.
public struct HTTPError: Error, CustomStringConvertible, Equatable {
    public var status: Int
    public var reason: String
    public init(_ status: Int, _ reason: String) {
        self.status = status
        self.reason = reason
    }
    public var description: String { "\(status) \(reason)" }
}

public enum HTTPHeadParser {
    /// The offset just past the blank line ending the head, if the buffer holds a complete head.
    /// `searchFrom` lets a caller skip bytes it already scanned.
    public static func headEnd(in bytes: UnsafeRawBufferPointer, searchFrom: Int = 0) -> Int? {
        let n = bytes.count
        var i = max(0, searchFrom - 3)
        while i + 3 < n {
            if bytes[i + 3] != 10 { // '\n'
                i += bytes[i + 3] == 13 ? 1 : 4
                continue
            }
            if bytes[i] == 13, bytes[i + 1] == 10, bytes[i + 2] == 13 { return i + 4 }
            i += 1
        }
        return nil
    }

    public static func headEnd(in bytes: [UInt8], searchFrom: Int = 0) -> Int? {
        bytes.withUnsafeBytes { headEnd(in: $0, searchFrom: searchFrom) }
    }

    /// Parses a complete head (including the final CRLFCRLF). Rejects what could be ambiguous
    /// between us and a proxy in front of us: obsolete line folding, bad tokens, a body with both
    /// Content-Length and Transfer-Encoding, conflicting lengths, transfer codings other than chunked.
    public static func parse(_ bytes: ArraySlice<UInt8>) throws(HTTPError) -> HTTPRequestHead {
        var lines: [ArraySlice<UInt8>] = []
        var start = bytes.startIndex
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if bytes[i] == 10 {
                guard i > start, bytes[i - 1] == 13 else { throw HTTPError(400, "bare LF in request head") }
                lines.append(bytes[start..<(i - 1)])
                start = i + 1
            }
            i += 1
        }
        guard let requestLine = lines.first, !requestLine.isEmpty else { throw HTTPError(400, "empty request line") }
        let parts = requestLine.split(separator: 32, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw HTTPError(400, "malformed request line") }
        let method = parts[0]
        guard !method.isEmpty, method.allSatisfy(isTokenByte) else { throw HTTPError(400, "malformed method") }
        let target = parts[1]
        guard !target.isEmpty, target.allSatisfy({ $0 > 32 && $0 < 127 }) else { throw HTTPError(400, "malformed request target") }
        guard target.first == 47 /* / */ || target.elementsEqual("*".utf8) else {
            throw HTTPError(400, "request target must be an absolute path")
        }
        let version = Array(parts[2])
        guard version.count == 8, version.starts(with: Array("HTTP/1.".utf8)), version[7] == 48 || version[7] == 49 else {
            throw HTTPError(version.starts(with: Array("HTTP/".utf8)) ? 505 : 400, "unsupported HTTP version")
        }
        var headers: [HTTPHeader] = []
        for line in lines.dropFirst() {
            if line.isEmpty { break }
            if line.first == 32 || line.first == 9 { throw HTTPError(400, "obsolete header line folding") }
            guard let colon = line.firstIndex(of: 58) else { throw HTTPError(400, "header line without ':'") }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenByte) else { throw HTTPError(400, "malformed header name") }
            var value = line[(colon + 1)...]
            while let f = value.first, f == 32 || f == 9 { value = value.dropFirst() }
            while let l = value.last, l == 32 || l == 9 { value = value.dropLast() }
            guard value.allSatisfy({ $0 >= 32 || $0 == 9 }), !value.contains(127) else {
                throw HTTPError(400, "control character in header value")
            }
            headers.append(HTTPHeader(name: String(decoding: name, as: UTF8.self).lowercased(),
                                      value: String(decoding: value, as: UTF8.self)))
        }
        let head = HTTPRequestHead(method: String(decoding: method, as: UTF8.self),
                                   target: String(decoding: target, as: UTF8.self),
                                   minorVersion: version[7] == 49 ? 1 : 0, headers: headers)
        try validateFraming(head)
        return head
    }

    static func validateFraming(_ head: HTTPRequestHead) throws(HTTPError) {
        let lengths = head.headers.filter { $0.name == "content-length" }.map(\.value)
        let codings = head.headers.filter { $0.name == "transfer-encoding" }.map(\.value)
        if !codings.isEmpty {
            if !lengths.isEmpty { throw HTTPError(400, "both Content-Length and Transfer-Encoding") }
            let all = codings.joined(separator: ",").split(separator: ",").map { $0.trimmedWhitespace().lowercased() }
            guard all == ["chunked"] else { throw HTTPError(501, "unsupported transfer coding") }
            if head.minorVersion == 0 { throw HTTPError(400, "chunked body in HTTP/1.0") }
        }
        if !lengths.isEmpty {
            let values = Set(lengths.flatMap { $0.split(separator: ",").map { $0.trimmedWhitespace() } })
            guard values.count == 1, let v = values.first, !v.isEmpty, v.allSatisfy(\.isASCIIDigit), v.count <= 15 else {
                throw HTTPError(400, "invalid Content-Length")
            }
        }
    }

    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 48...57, 65...90, 97...122: return true
        case 33, 35, 36, 37, 38, 39, 42, 43, 45, 46, 94, 95, 96, 124, 126: return true
        default: return false
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

