import Shared
import Storage

/// A failure on the server's side (file system, storage, a broken invariant). Its detail is for
/// the log only: the client sees `500 internal error <id>`, never paths, SQL or stack detail.
/// Failures the client should read are `HTTPError`s.
struct InternalError: Error, CustomStringConvertible {
    let detail: String
    init(_ detail: String) { self.detail = detail }
    var description: String { detail }

    /// A short random id that ties a client's "internal error" to its log line.
    static func newID() -> String {
        let n = UInt32.random(in: 0...UInt32.max)
        let hex = String(n, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// The client-visible text of an internal failure.
    static func clientText(id: String) -> String { "internal error \(id)" }
}

extension HTTPError {
    /// A 400 for a request whose data the server refused, when the failure is the client's
    /// (`SyncDataError`, `CodecError`, an `HTTPError`); nil for anything else, which is then a
    /// server fault reported as an internal error.
    static func refusal(_ what: String, _ error: Error) -> HTTPError? {
        switch error {
        case let e as HTTPError: return e
        case let e as SyncDataError: return HTTPError(400, "\(what): \(e.message)")
        case let e as CodecError: return HTTPError(400, "\(what): \(e.description)")
        default: return nil
        }
    }
}
