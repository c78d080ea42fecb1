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
