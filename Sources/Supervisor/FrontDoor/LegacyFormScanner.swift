import Shared

/// A legacy form read straight from connection bytes (HTTP body framing, then the form): what the
/// supervisor uses to find the host key without reading more than it must.
struct LegacyFormScanner: Sendable {
    var body: BodyDecoder
    var form: LegacyFormParser
    /// Body bytes (with chunked framing) consumed so far.
    private(set) var consumed = 0

    init(boundary: [UInt8], framing: BodyFraming) {
        body = BodyDecoder(framing: framing)
        form = LegacyFormParser(boundary: boundary)
    }

    var fields: LegacyFields { form.fields }
    /// The HTTP body has ended and the form was well-formed.
    var isComplete: Bool { body.isDone && form.isComplete }
    /// The HTTP body has ended.
    var bodyDone: Bool { body.isDone }

    /// Feeds raw connection bytes; returns how many belonged to the body. Throws `HTTPError` (400).
    mutating func feed(_ input: UnsafeRawBufferPointer, data sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        var decoder = body
        var f = form
        defer {
            body = decoder
            form = f
        }
        let used = try decoder.feed(input) { chunk in try f.feed(chunk, data: sink) }
        consumed += used
        if decoder.isDone { try f.finish() }
        return used
    }
}
