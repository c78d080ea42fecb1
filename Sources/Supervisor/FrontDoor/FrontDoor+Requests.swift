import Glibc
import Shared

/// Request heads: parse, route, and the one rule for bodies — a request whose body the front door
/// does not read to its end is answered with `connection: close` and the connection closed, so no
/// byte a client sent is ever taken for a request it did not make.
extension FrontDoor {
    /// Advances a connection as far as its buffered bytes allow. Every branch either waits for
    /// more bytes or changes the state, so this never spins.
    func process(_ conn: ClientConnection) {
        while connections[conn.id] != nil {
            switch conn.state {
            case .verifying, .writing:
                return
            case .readingLegacyForm(let head, let headLength, let scanner, let login, let data):
                advanceLegacyForm(conn, head: head, headLength: headLength, scanner: scanner, login: login, data: data)
                return
            case .readingLoginBody(let head, let headLength, let decoder, let body):
                advanceLoginBody(conn, head: head, headLength: headLength, decoder: decoder, body: body)
                return
            case .readingHead:
                guard let (head, headLength) = nextHead(conn) else { return }
                route(conn, head: head, headLength: headLength)
            }
        }
    }

    /// A complete, parsed request head at the front of the buffer; nil while incomplete (or after
    /// refusing a bad one).
    private func nextHead(_ conn: ClientConnection) -> (HTTPRequestHead, Int)? {
        if conn.buffer.isEmpty {
            if conn.sawEOF { drop(conn) }
            return nil
        }
        guard let end = HTTPHeadParser.headEnd(in: conn.buffer, searchFrom: conn.scanned) else {
            conn.scanned = conn.buffer.count
            if conn.buffer.count > limits.maxHeadBytes {
                refuse(conn, status: 431, reason: "request head larger than \(limits.maxHeadBytes) bytes")
            } else if conn.sawEOF {
                drop(conn)
            }
            return nil
        }
        if end > limits.maxHeadBytes {
            refuse(conn, status: 431, reason: "request head larger than \(limits.maxHeadBytes) bytes")
            return nil
        }
        do {
            return (try HTTPHeadParser.parse(conn.buffer[0..<end]), end)
        } catch {
            refuse(conn, status: error.status, reason: error.reason)
            return nil
        }
    }

    private func route(_ conn: ClientConnection, head: HTTPRequestHead, headLength: Int) {
        switch router.decide(head) {
        case .health:
            conn.consume(headLength)
            metrics.request(method: "health", status: 200, seconds: 0, bytesIn: headLength, bytesOut: 0)
            let close = Self.mustClose(head)
            respond(conn, HTTPResponse.head(status: 200, headers: [("content-length", "0")], close: close), close: close)
        case .reject(let status, let reason):
            conn.pending = .init(method: String(head.path), path: String(head.path), user: "-", client: clientVersion(head),
                                 started: WallClock.monotonic(), bytesIn: headLength)
            answer(conn, head: head, status: status, reason: reason, close: Self.mustClose(head), headLength: headLength)
        case .login:
            conn.consume(headLength)
            conn.state = .readingLoginBody(head: head, headLength: headLength, decoder: BodyDecoder(framing: head.bodyFraming), body: [])
            conn.pending = .init(method: "hostKey", path: String(head.path), user: "-", client: clientVersion(head),
                                 started: WallClock.monotonic(), bytesIn: 0)
        case .forward(let user):
            conn.fresh = false
            conn.requestPeer = peerSource.address(of: head, connectedFrom: conn.peer)
            handOff(conn, user: user)
        case .legacyForm(let boundary, let login):
            conn.state = .readingLegacyForm(head: head, headLength: headLength,
                                            scanner: LegacyFormScanner(boundary: boundary, framing: head.bodyFraming), login: login, data: [])
            if login {
                conn.pending = .init(method: "hostKey", path: String(head.path), user: "-", client: "legacy",
                                     started: WallClock.monotonic(), bytesIn: 0)
            }
        }
    }

    /// The body rule for requests answered from the head alone: any body means close.
    static func mustClose(_ head: HTTPRequestHead) -> Bool { head.bodyFraming != .none || !head.keepAlive }

    func clientVersion(_ head: HTTPRequestHead) -> String {
        head.header("anki-sync").flatMap { try? SyncHeader(parsing: $0).clientVersion } ?? "-"
    }

    // MARK: answers

    /// Refuses a request whose head could not be used: the connection's framing is unknown, so close.
    func refuse(_ conn: ClientConnection, status: Int, reason: String) {
        metrics.request(method: "other", status: status, seconds: 0, bytesIn: conn.buffer.count, bytesOut: 0)
        log.warn("request refused", ["status": .of(status), "reason": .string(reason), "peer": .string(conn.peer),
                                     "conn": .of(Int64(conn.id))])
        conn.buffer = []
        conn.pending = nil
        respond(conn, HTTPResponse.text(status: status, reason, close: true), close: true)
    }

    /// Answers a request with an error. With `close` false the request must have been read whole
    /// (`headLength` = all of its bytes), so the connection can carry the next one.
    func answer(_ conn: ClientConnection, head: HTTPRequestHead, status: Int, reason: String, close: Bool, headLength: Int = 0) {
        let method = conn.pending?.method == "hostKey" ? "hostKey" : "other"
        if method == "hostKey" { metrics.loginFailed(status == 503 ? .busy : .malformed) }
        metrics.request(method: method, status: status, seconds: conn.pending.map { WallClock.monotonic() - $0.started } ?? 0,
                        bytesIn: headLength, bytesOut: 0)
        log.info("request", ["user": .string(conn.pending?.user ?? "-"), "method": .string(String(head.path)),
                             "status": .of(status), "reason": .string(reason), "peer": .string(conn.peer)])
        conn.pending = nil
        if close { conn.buffer = [] } else { conn.consume(headLength) }
        conn.state = .readingHead
        respond(conn, HTTPResponse.text(status: status, reason, close: close), close: close)
    }

    func logRequest(_ conn: ClientConnection, status: Int, bytesOut: Int) {
        guard let p = conn.pending else { return }
        let seconds = WallClock.monotonic() - p.started
        metrics.request(method: p.method, status: status, seconds: seconds, bytesIn: p.bytesIn, bytesOut: bytesOut)
        let ms = Int(seconds * 1000)
        log.info("request", ["user": .string(p.user), "client": .string(p.client), "method": .string(p.method),
                             "status": .of(status), "in": .of(p.bytesIn), "out": .of(bytesOut), "ms": .of(ms)])
        conn.pending = nil
    }
}
