import CFuzzDriver

/// Helpers shared by the fuzz targets.
public enum FuzzInput {
    /// Splits `bytes` after its first byte into pieces whose sizes that byte chooses (1–64), so
    /// incremental parsers see every way a request can be cut across reads.
    public static func pieces(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        guard let first = bytes.first else { return }
        let size = Int(first % 64) + 1
        var at = 1
        while at < bytes.count {
            let n = min(size, bytes.count - at)
            try body(UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)]))
            at += n
        }
    }

    /// The program's entry point: hands the arguments and the target to libFuzzer.
    public static func runDriver(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                 _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt {
        cfuzz_run(argc, argv, test)
    }

    /// Runs `body`; refusing the input with an `E` is fine, any other error is a finding.
    public static func refusing<E: Error>(_ type: E.Type, _ body: () throws -> Void) {
        do { try body() } catch is E {} catch { check(false, "unexpected error \(error)") }
    }

    /// Output limit of the decompressing targets (a request's limits are larger; this keeps runs fast).
    public static let outputLimit = 1 << 20

    /// Feeds a streaming decompressor `input` in pieces and finishes it: refusing with an `E` is
    /// fine, producing more than `limit` bytes is a finding.
    public static func decompress<E: Error>(_ input: UnsafeRawBufferPointer, limit: Int = outputLimit, refusing: E.Type,
                                            feed: (UnsafeRawBufferPointer, (UnsafeRawBufferPointer) -> Void) throws -> Void,
                                            finish: () throws -> Void) {
        var produced = 0
        Self.refusing(E.self) {
            try pieces(input) { piece in try feed(piece) { produced += $0.count } }
            try finish()
        }
        check(produced <= limit, "produced \(produced) bytes, past the limit of \(limit)")
    }

    /// A property that must hold for every input; a violation is a finding (libFuzzer keeps it).
    public static func check(_ condition: Bool, _ what: @autoclosure () -> String) {
        if !condition { fatalError("fuzz invariant broken: \(what())") }
    }
}
