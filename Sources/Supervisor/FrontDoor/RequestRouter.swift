import Shared

/// What the supervisor does with a request once its head is read. Pure, so it is tested alone.
enum RouteDecision: Equatable {
    case health
    case login
    /// Hand the connection to this user's worker.
    case forward(user: String)
    case reject(status: Int, reason: String)
    /// A legacy (sync v8–10) multipart request: read the form far enough to find `k` (all of it
    /// for a login), then log in or forward.
    case legacyForm(boundary: [UInt8], login: Bool)
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
        guard let headerValue = head.header("anki-sync") else { return decideLegacy(head, route: route) }
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

    /// Requests without an `anki-sync` header are legacy (PROTOCOL.md §3): the GET form of
    /// `msync/begin` carries the key in its query; everything else is a multipart form.
    func decideLegacy(_ head: HTTPRequestHead, route: SyncRoute) -> RouteDecision {
        if head.method == "GET" {
            guard let key = LegacyFields(query: head.query).hostKey, !key.isEmpty else {
                return .reject(status: 400, reason: "legacy GET msync/begin needs the query parameters k and v")
            }
            guard let user = usersByHostKey[key] else { return .reject(status: 403, reason: "unknown host key; log in again") }
            return .forward(user: user)
        }
        let boundary: [UInt8]
        do { boundary = try Multipart.boundary(contentType: head.header("content-type")) } catch {
            return .reject(status: error.status, reason: "no anki-sync header, and " + error.reason)
        }
        return .legacyForm(boundary: boundary, login: route == .sync(.hostKey))
    }

    /// The user a legacy form's `k` belongs to.
    func user(hostKey: String) -> String? { usersByHostKey[hostKey] }
}
