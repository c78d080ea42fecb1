/// Builds response heads. Bodies are written by the caller.
public enum HTTPResponse {
    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 204: return "No Content"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 413: return "Content Too Large"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status"
        }
    }

    public static func head(status: Int, headers: [(String, String)], close: Bool = false) -> [UInt8] {
        var text = "HTTP/1.1 \(status) \(reason(status))\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if close { text += "connection: close\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }

    /// A complete plain-text response (errors). Never compressed: clients do not decode error bodies.
    public static func text(status: Int, _ body: String, close: Bool = false, extraHeaders: [(String, String)] = []) -> [UInt8] {
        let bytes = Array(body.utf8)
        var headers = [("content-type", "text/plain; charset=utf-8"), ("content-length", String(bytes.count))]
        headers += extraHeaders
        return head(status: status, headers: headers, close: close) + bytes
    }
}
