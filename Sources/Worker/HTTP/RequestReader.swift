import Glibc
import Shared

/// Buffered reads from a client connection, starting with bytes the supervisor already read; one
/// reader serves every request of a handover. Whatever is buffered past the last request is handed
/// back with the connection.
final class RequestReader {
    let connection: Connection
    /// Received bytes are `storage[start..<end]`; the storage is zeroed once and reused, so a read
    /// costs no 64 KiB fill (a tenth of a no-op sync's worker CPU went to such fills).
    private var storage: [UInt8]
    private var start = 0
    private var end: Int
    static let chunkSize = 64 * 1024

    init(connection: Connection, prefix: [UInt8]) {
        self.connection = connection
        self.storage = prefix
        self.end = prefix.count
    }

    var buffered: Int { end - start }

    /// Bytes read but not consumed (belong to the next request).
    var leftover: [UInt8] { Array(storage[start..<end]) }

    /// Reads more bytes from the connection into the buffer. Returns false at end of stream.
    @discardableResult
    func fill() throws(ConnectionError) -> Bool {
        if start == end {
            (start, end) = (0, 0)
        } else if start > Self.chunkSize {
            let kept = end - start
            storage.withUnsafeMutableBytes { raw in
                _ = memmove(raw.baseAddress!, raw.baseAddress! + start, kept)
            }
            (start, end) = (0, kept)
        }
        if storage.count - end < Self.chunkSize {
            storage.append(contentsOf: repeatElement(0, count: end + Self.chunkSize - storage.count))
        }
        var failure: ConnectionError?
        let n = storage.withUnsafeMutableBytes { raw -> Int in
            do throws(ConnectionError) {
                return try connection.receive(into: UnsafeMutableRawBufferPointer(rebasing: raw[end..<(end + Self.chunkSize)]))
            } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw failure }
        end += n
        return n > 0
    }

    /// Reads a complete request head (up to `limit` bytes) and consumes it.
    func readHead(limit: Int) throws -> ArraySlice<UInt8> {
        var scanned = 0
        while true {
            let headEnd = storage.withUnsafeBytes { raw in
                HTTPHeadParser.headEnd(in: UnsafeRawBufferPointer(rebasing: raw[start..<end]), searchFrom: scanned)
            }
            if let headEnd {
                let head = storage[start..<(start + headEnd)]
                start += headEnd
                return head
            }
            scanned = buffered
            if buffered > limit { throw HTTPError(431, "request head too large") }
            guard try fill() else { throw ConnectionError.closed }
        }
    }

    /// Feeds buffered and then socket bytes to `decoder` until the body ends.
    func readBody(_ decoder: inout BodyDecoder, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        while !decoder.isDone {
            if buffered == 0 {
                guard try fill() else { throw ConnectionError.closed }
            }
            var used = 0
            defer { start += used }
            try storage.withUnsafeBytes { raw in
                try decoder.feed(UnsafeRawBufferPointer(rebasing: raw[start..<end]), used: &used, sink: sink)
            }
        }
    }
}
