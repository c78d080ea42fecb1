import Glibc
import Shared

/// Client addresses as text, for login throttling and log lines.
enum PeerAddress {
    /// The numeric form of a socket address; IPv4-mapped IPv6 addresses are shown as IPv4.
    static func text(_ storage: UnsafePointer<sockaddr_storage>) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            return storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                var addr = sin.pointee.sin_addr
                guard inet_ntop(AF_INET, &addr, &buffer, socklen_t(buffer.count)) != nil else { return "-" }
                return cString(buffer)
            }
        case AF_INET6:
            let text = storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 -> String in
                var addr = sin6.pointee.sin6_addr
                guard inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count)) != nil else { return "-" }
                return cString(buffer)
            }
            if text.hasPrefix("::ffff:"), text.contains(".") { return String(text.dropFirst(7)) }
            return text
        case AF_UNIX:
            return "unix"
        default:
            return "-"
        }
    }

    private static func cString(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The /64 network of an IPv6 address in text form ("2001:db8:1:2::/64"), nil if not IPv6.
    static func prefix64(_ text: String) -> String? {
        var addr = in6_addr()
        guard inet_pton(AF_INET6, text, &addr) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: addr) { Array($0) }
        var groups: [String] = []
        for i in stride(from: 0, to: 8, by: 2) {
            groups.append(String(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]), radix: 16))
        }
        return groups.joined(separator: ":") + "::/64"
    }
}

/// Applies SYNC_IP_HEADER: the client address a request stands for.
struct PeerAddressSource {
    let source: ClientIPSource

    init(_ source: ClientIPSource) { self.source = source }

    /// The header's address when configured and present, else the connected address.
    func address(of head: HTTPRequestHead, connectedFrom peer: String) -> String {
        guard let name = source.headerName else { return peer }
        let header = head.header(name)
        let value: String?
        switch source {
        case .connectInfo: return peer
        case .rightmostXForwardedFor: value = header.flatMap { Self.lastItem($0) }
        case .rightmostForwarded: value = header.flatMap { Self.lastForwardedFor($0) }
        case .xRealIp, .flyClientIp, .trueClientIp, .cfConnectingIp: value = header
        case .cloudFrontViewerAddress:
            // "address:port"; IPv6 addresses contain colons themselves, so cut at the last one.
            value = header.map { v in v.lastIndex(of: ":").map { String(v[..<$0]) } ?? v }
        }
        guard let raw = value?.trimmedWhitespace(), !raw.isEmpty, raw.utf8.count <= 64,
              raw.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 }) else { return peer }
        return raw
    }

    static func lastItem(_ list: String) -> String? {
        list.split(separator: ",").last.map { String($0).trimmedWhitespace() }
    }

    /// The `for=` of the last element of a `Forwarded` header (RFC 7239), without quotes/brackets.
    static func lastForwardedFor(_ header: String) -> String? {
        guard let element = header.split(separator: ",").last else { return nil }
        for pair in element.split(separator: ";") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmedWhitespace().lowercased() == "for" else { continue }
            var v = String(parts[1]).trimmedWhitespace()
            v.removeAll { $0 == "\"" }
            if v.hasPrefix("["), let close = v.firstIndex(of: "]") { v = String(v[v.index(after: v.startIndex)..<close]) }
            return v
        }
        return nil
    }
}
