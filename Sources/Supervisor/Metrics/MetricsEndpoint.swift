import CShim
import Glibc
import Shared

/// `GET /metrics` on its own listener (SYNC_METRICS_ADDR, off by default), never on the sync port,
/// so user names are not shown to the internet. One request per connection: read the head, answer,
/// close. Scrapes are cheap (counters are kept as things happen; disk use is cached).
/// Never touches: client sync connections, workers, user data (it only stats files for sizes).
final class MetricsEndpoint {
    let listenFD: Int32
    let poller: Poller
    let metrics: ServerMetrics
    /// Fills the current-state gauges just before a scrape is rendered.
    let refresh: () -> Void
    private var scrapers = LocalConnections<Scraper>(base: EventToken.metricsConnectionBase)

    static let maxHeadBytes = 8 * 1024
    static let timeoutSeconds = 5.0

    final class Scraper {
        let fd: Int32
        let opened = WallClock.monotonic()
        var buffer: [UInt8] = []
        var outbound: [UInt8] = []
        var sent = 0
        init(fd: Int32) { self.fd = fd }
    }

    init(address: ListenAddress, poller: Poller, metrics: ServerMetrics, refresh: @escaping () -> Void) throws {
        listenFD = try Listener.open(host: address.host, port: address.port, backlog: 16)
        self.poller = poller
        self.metrics = metrics
        self.refresh = refresh
        poller.add(listenFD, events: Poller.readable, token: EventToken.metricsListener)
    }

    func acceptAll() {
        scrapers.acceptAll(from: listenFD, poller: poller) { Scraper(fd: $0) }
    }

    func event(token: UInt64, events: UInt32) {
        guard let s = scrapers[token] else { return }
        if s.outbound.isEmpty {
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { recv(s.fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
            guard n > 0 else { return finish(token) }
            s.buffer.append(contentsOf: chunk[0..<n])
            guard let end = HTTPHeadParser.headEnd(in: s.buffer, searchFrom: 0) else {
                if s.buffer.count > Self.maxHeadBytes { answer(token, s, status: 431, body: "request head too large\n") }
                return
            }
            guard let head = try? HTTPHeadParser.parse(s.buffer[0..<end]) else {
                return answer(token, s, status: 400, body: "bad request\n")
            }
            let path = head.path.split(separator: "?").first.map(String.init) ?? ""
            guard head.method == "GET" || head.method == "HEAD", path == "/metrics" else {
                return answer(token, s, status: 404, body: "only GET /metrics here\n")
            }
            let started = WallClock.monotonic()
            refresh()
            let text = metrics.registry.render()
            answer(token, s, status: 200, body: head.method == "HEAD" ? "" : text)
            metrics.request(method: "metrics", status: 200, seconds: WallClock.monotonic() - started, bytesIn: end,
                            bytesOut: s.outbound.count)
        } else if events & Poller.writable != 0 {
            flush(token, s)
        }
    }

    private func answer(_ token: UInt64, _ s: Scraper, status: Int, body: String) {
        let bytes = Array(body.utf8)
        s.outbound = HTTPResponse.head(status: status, headers: [("content-type", "text/plain; version=0.0.4; charset=utf-8"),
                                                                 ("content-length", String(bytes.count))], close: true) + bytes
        poller.modify(s.fd, events: Poller.writable, token: token)
        flush(token, s)
    }

    private func flush(_ token: UInt64, _ s: Scraper) {
        while s.sent < s.outbound.count {
            let n = s.outbound.withUnsafeBytes { send(s.fd, $0.baseAddress! + s.sent, $0.count - s.sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 { s.sent += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
            break
        }
        finish(token)
    }

    private func finish(_ token: UInt64) {
        guard let s = scrapers.remove(token) else { return }
        poller.remove(s.fd)
        shutdown(s.fd, Int32(SHUT_WR))
        close(s.fd)
    }

    func sweep(now: Double) {
        for (token, s) in scrapers.byToken where now - s.opened > Self.timeoutSeconds { finish(token) }
    }
}
