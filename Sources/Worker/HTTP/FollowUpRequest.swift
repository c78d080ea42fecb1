import Glibc
import Shared

/// After an answer, a keep-alive connection stays with the worker for a short while
/// (SYNC_WORKER_HOLD_MS). A sync is a string of requests a few milliseconds apart, and taking each
/// one through the front door costs two process hops: a no-op sync took 0.43 ms that way, 0.30 ms
/// served here (the official server: 0.28 ms).
///
/// The worker serves the next request itself only when its head is plainly this account's: a
/// complete sync or media request with this worker's host key and, behind a proxy (SYNC_IP_HEADER),
/// the same client address as the request the front door routed. Anything else — a login, another
/// account's key, a legacy form, a partial head, a closed connection, silence, other requests of
/// this account waiting for a thread, a shutdown — sends the connection back to the front door
/// untouched: the head was only peeked.
struct FollowUpRequest {
    let hostKey: String
    /// SYNC_IP_HEADER's header, and its value in the request the front door routed.
    let addressHeader: String?
    let routedAddress: String?
    /// Where heads are peeked into; allocated once per handover, not per request.
    private var peeked = [UInt8](repeating: 0, count: FollowUpRequest.peekLimit)

    /// Heads larger than this are left to the front door.
    static let peekLimit = 16 * 1024
    /// How often a held connection checks whether it should give way.
    static let sliceMillis = 20

    init(hostKey: String, addressHeader: String?, routedHead: [UInt8]) {
        self.hostKey = hostKey
        self.addressHeader = addressHeader
        routedAddress = addressHeader.flatMap { name in
            HTTPHeadParser.headEnd(in: routedHead).flatMap { try? HTTPHeadParser.parse(routedHead[0..<$0]).header(name) }
        }
    }

    /// Whether this head may be served by this worker without the front door.
    func isOurs(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let head = try? HTTPHeadParser.parse(bytes),
              let route = try? SyncRoute.resolve(method: head.method, path: head.path) else { return false }
        if route == .health || route == .sync(.hostKey) { return false }
        guard let value = head.header("anki-sync"), let header = try? SyncHeader(parsing: value),
              header.hostKey == hostKey else { return false }
        if let addressHeader { return head.header(addressHeader) == routedAddress }
        return true
    }

    /// Waits up to `holdMillis` for the next request on `fd`; true when it has arrived and is
    /// this worker's to serve. `giveWay` is asked every `sliceMillis`.
    mutating func await(fd: Int32, holdMillis: Int, giveWay: () -> Bool) -> Bool {
        let deadline = WallClock.monotonic() + Double(holdMillis) / 1000
        while !giveWay() {
            let left = Int((deadline - WallClock.monotonic()) * 1000)
            guard left > 0 else { return false }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(left, Self.sliceMillis)))
            if ready == 0 || (ready < 0 && errno == EINTR) { continue }
            guard ready > 0 else { return false }
            let n = peeked.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
            guard n > 0 else { return false }
            let end = peeked.withUnsafeBytes { HTTPHeadParser.headEnd(in: UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            guard let end else { return false }
            return isOurs(peeked[0..<end])
        }
        return false
    }
}
