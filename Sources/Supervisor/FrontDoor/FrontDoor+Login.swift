import FoundationEssentials
import Glibc
import Shared

/// Logins (`/sync/hostKey`): the front door reads the small body itself, asks the throttle,
/// queues the password check on the verifier threads and answers. A failed login is answered 403
/// and the connection closed, so guesses cannot be pipelined.
extension FrontDoor {
    /// Login bodies are tiny JSON; anything larger is refused.
    static let maxLoginBodyBytes = 16 * 1024

    struct Credentials: Decodable {
        var u: String
        var p: String
    }

    func advanceLoginBody(_ conn: ClientConnection, head: HTTPRequestHead, headLength: Int, decoder: BodyDecoder, body: [UInt8]) {
        var decoder = decoder
        var body = body
        let consumed: Int
        do {
            consumed = try conn.buffer.withUnsafeBytes { raw in
                try decoder.feed(raw) { chunk in
                    guard body.count + chunk.count <= Self.maxLoginBodyBytes else {
                        throw HTTPError(400, "login body larger than \(Self.maxLoginBodyBytes) bytes")
                    }
                    body.append(contentsOf: chunk)
                }
            }
        } catch {
            answer(conn, head: head, status: (error as? HTTPError)?.status ?? 400, reason: "\(error)", close: true)
            return
        }
        conn.buffer.removeFirst(consumed)
        guard decoder.isDone else {
            conn.state = .readingLoginBody(head: head, headLength: headLength, decoder: decoder, body: body)
            if conn.sawEOF { drop(conn) }
            return
        }
        conn.scanned = 0
        conn.headStarted = conn.buffer.isEmpty ? nil : WallClock.monotonic()
        let credentials: Credentials
        do {
            let json = try ZstdDecompressor.decompress(body, limit: Self.maxLoginBodyBytes)
            credentials = try JSONDecoder().decode(Credentials.self, from: Data(json))
        } catch {
            answer(conn, head: head, status: 400, reason: "login body is not zstd JSON {\"u\",\"p\"}", close: false)
            return
        }
        submitLogin(conn, head: head, credentials: credentials, bytesIn: headLength + consumed, legacy: false)
    }

    func submitLogin(_ conn: ClientConnection, head: HTTPRequestHead, credentials: Credentials, bytesIn: Int, legacy: Bool) {
        conn.pending?.bytesIn = bytesIn
        conn.pending?.user = credentials.u
        conn.legacyLogin = legacy
        let peer = peerSource.address(of: head, connectedFrom: conn.peer)
        let now = WallClock.monotonic()
        let admission = throttle.admit(peer: peer, connection: conn.id, now: now)
        if case .refuse(let retryAfter) = admission {
            log.warn("login throttled", ["user": .string(credentials.u), "peer": .string(peer), "retry_after_s": .of(retryAfter)])
            metrics.loginFailed(.throttled)
            let reply = HTTPResponse.head(status: 429, headers: [("content-type", "text/plain"), ("retry-after", String(retryAfter)),
                                                                  ("content-length", "0")], close: true)
            logRequest(conn, status: 429, bytesOut: reply.count)
            conn.buffer = []
            if throttle.tarpit(peer: peer, connection: conn.id) {
                // A guesser waits for its refusal, so a flood costs it time rather than us.
                conn.state = .verifying
                updateInterest(conn)
                held.append(Held(due: now + LoginThrottle.tarpitSeconds, connectionID: conn.id, action: .refusal(reply)))
            } else {
                respond(conn, reply, close: true)
            }
            return
        }
        conn.state = .verifying
        conn.loginPeer = peer
        updateInterest(conn)
        let key = LoginThrottle.key(forPeer: peer)
        let job = LoginQueue.Job(connectionID: conn.id, userName: credentials.u, password: credentials.p,
                                 peer: key, suspect: throttle.hasFailed(peerKey: key))
        if case .hold(let until) = admission {
            held.append(Held(due: until, connectionID: conn.id, action: .check(job)))
            return
        }
        check(job, conn: conn)
    }

    /// Queues the password check; a full queue is answered 503.
    private func check(_ job: LoginQueue.Job, conn: ClientConnection) {
        guard !logins.submit(job) else { return }
        throttle.release(connection: conn.id)
        conn.state = .readingHead
        conn.buffer = []
        log.warn("login refused: verifier queue full", ["user": .string(job.userName), "peer": .string(conn.peer)])
        metrics.loginFailed(.busy)
        let reply = HTTPResponse.text(status: 503, "too many logins at once; try again", close: true)
        logRequest(conn, status: 503, bytesOut: reply.count)
        respond(conn, reply, close: true)
    }

    /// Verifier results: answer each login, at once or after the throttle's delay for its name.
    func finishLogins() {
        let now = WallClock.monotonic()
        for outcome in logins.drain() {
            // Counted even when the client has gone: a guess is a guess.
            let delay = outcome.hostKey == nil
                ? throttle.failed(connection: outcome.connectionID, name: outcome.userName, now: now)
                : throttle.succeeded(connection: outcome.connectionID, name: outcome.userName, now: now)
            guard let conn = connections[outcome.connectionID] else { continue }
            let peer = conn.loginPeer ?? conn.peer
            let reply: [UInt8]
            let close: Bool
            if let key = outcome.hostKey {
                reply = loginReply(key: key, legacy: conn.legacyLogin)
                close = false
                logRequest(conn, status: 200, bytesOut: reply.count)
            } else {
                // One line per failure, the same for unknown names; deploy/fail2ban matches it.
                log.warn("login failed", ["user": .string(outcome.userName), "peer": .string(peer)])
                metrics.loginFailed(.rejected)
                reply = HTTPResponse.text(status: 403, "403", close: true)
                close = true
                logRequest(conn, status: 403, bytesOut: reply.count)
            }
            conn.legacyLogin = false
            conn.loginPeer = nil
            if delay > 0 {
                held.append(Held(due: now + delay, connectionID: conn.id, action: .reply(reply, close: close)))
            } else {
                send(login: conn, reply, close: close)
            }
        }
    }

    /// Runs the held login steps whose time has come.
    func releaseHeld(now: Double) {
        guard !held.isEmpty else { return }
        let due = held.filter { $0.due <= now }
        held.removeAll { $0.due <= now }
        for item in due {
            switch item.action {
            case .check: if connections[item.connectionID] == nil { throttle.release(connection: item.connectionID) }
            case .refusal: throttle.untarpit(connection: item.connectionID)
            case .reply: break
            }
            guard let conn = connections[item.connectionID] else { continue }
            switch item.action {
            case .check(let job): check(job, conn: conn)
            case .reply(let bytes, let close): send(login: conn, bytes, close: close)
            case .refusal(let bytes): send(login: conn, bytes, close: true)
            }
        }
    }

    private func send(login conn: ClientConnection, _ reply: [UInt8], close: Bool) {
        conn.state = .readingHead
        if close { conn.buffer = [] }
        respond(conn, reply, close: close)
        updateInterest(conn)
    }

    private func loginReply(key: String, legacy: Bool) -> [UInt8] {
        let json = Array("{\"key\":\"\(key)\"}".utf8)
        if legacy {
            return HTTPResponse.head(status: 200, headers: [("content-type", "application/octet-stream"),
                                                            ("content-length", String(json.count))]) + json
        }
        let body = ZstdCompressor.compress(json)
        return HTTPResponse.head(status: 200, headers: [("content-type", "application/octet-stream"),
                                                        ("anki-original-size", String(json.count)),
                                                        ("content-length", String(body.count))]) + body
    }
}
