/// Unicode helpers the storage engine needs, without Foundation's ICU-backed string methods (the
/// worker links only FoundationEssentials, which keeps each worker process small).
extension StringProtocol {
    /// Canonical composition (NFC), from the standard library's own normalization tables.
    /// ASCII text is returned as it is.
    var nfc: String {
        if utf8.allSatisfy({ $0 < 0x80 }) { return String(self) }
        return String(decoding: String(self)._nfcCodeUnits, as: UTF8.self)
    }

    /// Leading and trailing scalars with the Unicode `White_Space` property removed (as Rust's
    /// `str::trim`, which the reference uses on names).
    var trimmingUnicodeWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
