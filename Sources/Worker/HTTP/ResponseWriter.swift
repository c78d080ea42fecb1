/// Response bytes to a client connection, plain or as chunks of a chunked body.
struct ResponseWriter {
    let connection: Connection

    func write(_ bytes: UnsafeRawBufferPointer) throws(ConnectionError) {
        try connection.send(bytes)
    }

    func write(_ bytes: [UInt8]) throws(ConnectionError) {
        var failure: ConnectionError?
        bytes.withUnsafeBytes { raw in
            do throws(ConnectionError) { try connection.send(raw) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Writes one chunk of a chunked body (nothing for an empty input: that would end the body).
    func writeChunk(_ bytes: UnsafeRawBufferPointer) throws(ConnectionError) {
        guard bytes.count > 0 else { return }
        try write(Array((String(bytes.count, radix: 16) + "\r\n").utf8))
        try write(bytes)
        try write([13, 10])
    }

    func endChunks() throws(ConnectionError) { try write(Array("0\r\n\r\n".utf8)) }
}
