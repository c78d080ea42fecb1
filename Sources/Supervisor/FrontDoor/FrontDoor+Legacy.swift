import FoundationEssentials
import Shared

/// Legacy (sync v8–10) requests carry the host key inside the multipart form, not in a header.
/// The supervisor reads the form only as far as the key (bounded, so every byte it read fits in
/// the handover message to the worker) — or whole for a login, which it answers itself.
extension FrontDoor {
    /// Head plus form bytes read before the key must have been seen.
    static let legacyFormBound = ChannelMessage.maxSize - 4096

    func advanceLegacyForm(_ conn: ClientConnection, head: HTTPRequestHead, headLength: Int,
                           scanner: LegacyFormScanner, login: Bool, data: [UInt8]) {
        var scanner = scanner
        var data = data
        let start = headLength + scanner.consumed
        do {
            if start < conn.buffer.count {
                _ = try conn.buffer.withUnsafeBytes { raw in
                    try scanner.feed(UnsafeRawBufferPointer(rebasing: raw[start...])) { chunk in
                        guard login else { return }
                        guard data.count + chunk.count <= Self.maxLoginBodyBytes else {
                            throw HTTPError(400, "login data larger than \(Self.maxLoginBodyBytes) bytes")
                        }
                        data.append(contentsOf: chunk)
                    }
                }
            }
        } catch {
            let reason = (error as? HTTPError)?.reason ?? "\(error)"
            answer(conn, head: head, status: (error as? HTTPError)?.status ?? 400, reason: "legacy form: \(reason)", close: true)
            return
        }
        let total = headLength + scanner.consumed
        if scanner.bodyDone && !scanner.isComplete && (login || scanner.fields.hostKey == nil) {
            // Only reached for an empty body: a body that ends early fails inside `feed`.
            answer(conn, head: head, status: 400, reason: "legacy form: empty body, expected multipart/form-data", close: false, headLength: total)
            return
        }
        if login {
            guard scanner.isComplete else {
                conn.state = .readingLegacyForm(head: head, headLength: headLength, scanner: scanner, login: login, data: data)
                if conn.sawEOF { drop(conn) }
                return
            }
            let credentials: Credentials
            do {
                let json = try scanner.fields.payload(data, limit: Self.maxLoginBodyBytes)
                credentials = try JSONDecoder().decode(Credentials.self, from: Data(json))
            } catch {
                let reason = (error as? HTTPError)?.reason ?? "\(error)"
                answer(conn, head: head, status: 400, reason: "legacy login: data is not JSON {\"u\",\"p\"}: \(reason)", close: false, headLength: total)
                return
            }
            conn.consume(total)
            submitLogin(conn, head: head, credentials: credentials, bytesIn: total, legacy: true)
            return
        }
        if let key = scanner.fields.hostKey {
            guard let user = router.user(hostKey: key) else {
                answer(conn, head: head, status: 403, reason: "unknown host key; log in again", close: !scanner.bodyDone, headLength: total)
                return
            }
            conn.state = .readingHead
            conn.fresh = false
            handOff(conn, user: user)
            return
        }
        if scanner.bodyDone {
            answer(conn, head: head, status: 400, reason: "legacy form without a k (or sk) field", close: false, headLength: total)
            return
        }
        if conn.buffer.count >= Self.legacyFormBound {
            answer(conn, head: head, status: 400,
                   reason: "legacy form: no k (or sk) field within its first \(Self.legacyFormBound) bytes", close: true)
            return
        }
        conn.state = .readingLegacyForm(head: head, headLength: headLength, scanner: scanner, login: login, data: data)
        if conn.sawEOF { drop(conn) }
    }
}
