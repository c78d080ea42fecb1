/// Incremental decoder for a request body delimited by Content-Length or chunked transfer coding.
/// Feed it whatever bytes arrived; it hands body bytes to `sink`, reports how many input bytes it
/// consumed, and stops exactly at the end of the body so the caller keeps what follows (the next
/// request on a keep-alive connection).
public struct BodyDecoder: Sendable {
    enum State: Sendable {
        case length(remaining: Int)
        case chunkSize(digits: Int, value: Int, inExtension: Bool, sawCR: Bool)
        case chunkData(remaining: Int)
        case chunkDataCR
        case chunkDataLF
        case trailerLineStart
        case trailerLine(sawCR: Bool)
        case finalLF
        case done
    }

    var state: State
    /// Bytes of chunk-extension and trailer text consumed so far (not sizes or data), bounded to
    /// refuse endless framing.
    var overhead = 0
    static let maxOverheadBytes = 16 * 1024

    public init(framing: BodyFraming) {
        switch framing {
        case .none: state = .done
        case .length(let n): state = n > 0 ? .length(remaining: n) : .done
        case .chunked: state = .chunkSize(digits: 0, value: 0, inExtension: false, sawCR: false)
        }
    }

    public var isDone: Bool {
        if case .done = state { return true }
        return false
    }

    /// Consumes from `input`; returns the number of bytes used. Body bytes go to `sink` in order.
    public mutating func feed(_ input: UnsafeRawBufferPointer,
                              sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        var used = 0
        try feed(input, used: &used, sink: sink)
        return used
    }

    /// Like `feed`, but `used` is right even when `sink` throws: the bytes it was given count as
    /// consumed, so a caller that stops taking the body (a refused upload) can still skip the rest
    /// of it in step with the framing.
    public mutating func feed(_ input: UnsafeRawBufferPointer, used: inout Int,
                              sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        var i = 0
        let n = input.count
        defer { used = i }
        while i < n {
            switch state {
            case .done:
                return
            case .length(let remaining):
                let take = min(remaining, n - i)
                state = remaining - take == 0 ? .done : .length(remaining: remaining - take)
                i += take
                try sink(UnsafeRawBufferPointer(rebasing: input[(i - take)..<i]))
            case .chunkData(let remaining):
                let take = min(remaining, n - i)
                state = remaining - take == 0 ? .chunkDataCR : .chunkData(remaining: remaining - take)
                i += take
                try sink(UnsafeRawBufferPointer(rebasing: input[(i - take)..<i]))
            case .chunkDataCR:
                guard input[i] == 13 else { throw HTTPError(400, "malformed chunked body: missing CRLF after chunk") }
                i += 1
                state = .chunkDataLF
            case .chunkDataLF:
                guard input[i] == 10 else { throw HTTPError(400, "malformed chunked body: missing CRLF after chunk") }
                i += 1
                state = .chunkSize(digits: 0, value: 0, inExtension: false, sawCR: false)
            case .chunkSize(let digits, let value, let inExtension, let sawCR):
                let b = input[i]
                i += 1
                if sawCR {
                    guard b == 10, digits > 0 else { throw HTTPError(400, "malformed chunk size line") }
                    state = value == 0 ? .trailerLineStart : .chunkData(remaining: value)
                } else if b == 13 {
                    state = .chunkSize(digits: digits, value: value, inExtension: inExtension, sawCR: true)
                } else if inExtension {
                    try countOverhead()
                    guard b == 9 || (b >= 32 && b != 127) else { throw HTTPError(400, "malformed chunk extension") }
                } else if let d = BodyDecoder.hexValue(b) {
                    guard digits < 15 else { throw HTTPError(400, "chunk size too large") }
                    state = .chunkSize(digits: digits + 1, value: value * 16 + d, inExtension: false, sawCR: false)
                } else if b == 59 || b == 32 || b == 9 { // ';' (after optional whitespace) starts an ignored extension
                    guard digits > 0 else { throw HTTPError(400, "malformed chunk size line") }
                    state = .chunkSize(digits: digits, value: value, inExtension: true, sawCR: false)
                } else {
                    throw HTTPError(400, "malformed chunk size")
                }
            case .trailerLineStart:
                let b = input[i]
                i += 1
                try countOverhead()
                if b == 13 { state = .finalLF } else { state = .trailerLine(sawCR: false) }
            case .trailerLine(let sawCR):
                let b = input[i]
                i += 1
                try countOverhead()
                if sawCR {
                    guard b == 10 else { throw HTTPError(400, "malformed chunked trailer") }
                    state = .trailerLineStart
                } else if b == 13 {
                    state = .trailerLine(sawCR: true)
                }
            case .finalLF:
                guard input[i] == 10 else { throw HTTPError(400, "malformed end of chunked body") }
                i += 1
                state = .done
            }
        }
    }

    mutating func countOverhead() throws {
        overhead += 1
        if overhead > BodyDecoder.maxOverheadBytes { throw HTTPError(400, "chunked framing overhead too large") }
    }

    static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case 48...57: return Int(b - 48)
        case 97...102: return Int(b - 87)
        case 65...70: return Int(b - 55)
        default: return nil
        }
    }
}
