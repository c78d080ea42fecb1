/// SYNC_IP_HEADER: where the client's address is read from, with the official server's names.
/// Behind a reverse proxy every connection comes from the proxy, so login throttling and the
/// login log lines need the address the proxy saw. Only set it when a proxy that sets that header
/// is the only way in: a client talking to the server directly could write it itself.
public enum ClientIPSource: String, Sendable, CaseIterable {
    /// The connected socket's address (the default).
    case connectInfo = "ConnectInfo"
    /// The last `for=` of the standard `Forwarded` header.
    case rightmostForwarded = "RightmostForwarded"
    /// The last address of `X-Forwarded-For`.
    case rightmostXForwardedFor = "RightmostXForwardedFor"
    case xRealIp = "XRealIp"
    case flyClientIp = "FlyClientIp"
    case trueClientIp = "TrueClientIp"
    case cfConnectingIp = "CfConnectingIp"
    case cloudFrontViewerAddress = "CloudFrontViewerAddress"

    /// The request header the address is read from; nil for the connected address.
    public var headerName: String? {
        switch self {
        case .connectInfo: return nil
        case .rightmostForwarded: return "forwarded"
        case .rightmostXForwardedFor: return "x-forwarded-for"
        case .xRealIp: return "x-real-ip"
        case .flyClientIp: return "fly-client-ip"
        case .trueClientIp: return "true-client-ip"
        case .cfConnectingIp: return "cf-connecting-ip"
        case .cloudFrontViewerAddress: return "cloudfront-viewer-address"
        }
    }

    static func parse(_ raw: String?) throws(ConfigError) -> ClientIPSource {
        guard let raw, !raw.isEmpty else { return .connectInfo }
        guard let source = ClientIPSource(rawValue: raw) else {
            throw ConfigError("SYNC_IP_HEADER", "expected one of \(allCases.map(\.rawValue).joined(separator: ", ")), got '\(raw)'")
        }
        return source
    }
}
