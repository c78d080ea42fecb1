import Shared

/// What the supervisor does with a request once its head is read. Pure, so it is tested alone.
enum RouteDecision: Equatable {
    case health
    case login
    /// Hand the connection to this user's worker.
    case forward(user: String)
    case reject(status: Int, reason: String)
}

struct RequestRouter {
    /// hkey → user name.
    var usersByHostKey: [String: String]

    init(users: [UserEntry]) {
        var map: [String: String] = [:]
        for u in users { map[u.hostKey] = u.name }
        usersByHostKey = map
    }

    func decide(_ head: HTTPRequestHead) -> RouteDecision {
        let route: SyncRoute
        do { route = try SyncRoute.resolve(method: head.method, path: head.path) } catch {
            return .reject(status: error.status, reason: error.reason)
        }
        if route == .health { return .health }
        guard let headerValue = head.header("anki-sync") else {
            return .reject(status: 400, reason: "this server speaks sync protocol 11 (anki-sync header); legacy multipart requests are not supported yet")
        }
        let header: SyncHeader
        do { header = try SyncHeader(parsing: headerValue) } catch {
            return .reject(status: error.status, reason: error.reason)
        }
        if route == .sync(.hostKey) { return .login }
        guard let user = usersByHostKey[header.hostKey] else {
            return .reject(status: 403, reason: "unknown host key; log in again")
        }
        return .forward(user: user)
    }
}
