import Shared

/// Buffered reads from a client connection, starting with bytes the supervisor already read.
/// Whatever is buffered past the current request is handed back with the connection.
final class RequestReader {
    let connection: Connection
    private(set) var buffer: [UInt8]
    private var start = 0
    static let chunkSize = 64 * 1024

    init(connection: Connection, prefix: [UInt8]) {
        self.connection = connection
        self.buffer = prefix
    }

    var buffered: Int { buffer.count - start }

    /// Bytes read but not consumed (belong to the next request).
    var leftover: [UInt8] { Array(buffer[start...]) }

    /// Reads more bytes from the connection into the buffer. Returns false at end of stream.
    @discardableResult
    func fill() throws(ConnectionError) -> Bool {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > Self.chunkSize {
            buffer.removeFirst(start)
            start = 0
        }
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: Self.chunkSize))
        var failure: ConnectionError?
        let n = buffer.withUnsafeMutableBytes { raw -> Int in
            do throws(ConnectionError) {
                return try connection.receive(into: UnsafeMutableRawBufferPointer(rebasing: raw[old...]))
            } catch {
                failure = error
                return 0
            }
        }
        buffer.removeLast(Self.chunkSize - n)
        if let failure { throw failure }
        return n > 0
    }

    /// Reads a complete request head (up to `limit` bytes) and consumes it.
    func readHead(limit: Int) throws -> ArraySlice<UInt8> {
        var scanned = 0
        while true {
            let end = buffer.withUnsafeBytes { raw in
                HTTPHeadParser.headEnd(in: UnsafeRawBufferPointer(rebasing: raw[start...]), searchFrom: scanned)
            }
            if let end {
                let head = buffer[start..<(start + end)]
                start += end
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
            let used = try buffer.withUnsafeBytes { raw in
                try decoder.feed(UnsafeRawBufferPointer(rebasing: raw[start...]), sink: sink)
            }
            start += used
        }
    }
}
