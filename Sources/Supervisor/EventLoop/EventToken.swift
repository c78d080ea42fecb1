/// epoll tokens: client connections use their id (below 2^40); everything else a fixed value or a
/// range in the top bits, so the loop can tell whose event it is from the token alone.
enum EventToken {
    static let listen: UInt64 = 1 << 62
    static let signal: UInt64 = (1 << 62) + 1
    static let login: UInt64 = (1 << 62) + 2
    static let control: UInt64 = (1 << 62) + 3
    static let metricsListener: UInt64 = (1 << 62) + 4
    /// Worker channels: base + the record's index.
    static let channelBase: UInt64 = 1 << 61
    /// Control clients: base + a running number.
    static let controlConnectionBase: UInt64 = 1 << 60
    /// Metrics scrapers: base + a running number.
    static let metricsConnectionBase: UInt64 = 1 << 59

    enum Owner {
        case listener, signals, logins, controlListener, metricsListener
        case channel(index: Int)
        case controlConnection(UInt64)
        case metricsConnection(UInt64)
        case client(UInt64)
    }

    static func owner(of token: UInt64) -> Owner {
        switch token {
        case listen: return .listener
        case signal: return .signals
        case login: return .logins
        case control: return .controlListener
        case metricsListener: return .metricsListener
        case channelBase...: return .channel(index: Int(token - channelBase))
        case controlConnectionBase...: return .controlConnection(token)
        case metricsConnectionBase...: return .metricsConnection(token)
        default: return .client(token)
        }
    }
}
