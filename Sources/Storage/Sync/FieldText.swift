import Crypto

/// Sort field and checksum of a note's fields, as clients compute them (COLLECTION.md §4.3).
public enum FieldText {
    /// Removes ASCII control characters other than tab and newline (no normalisation).
    public static func removeInvalidCharacters(_ field: String) -> String {
        var needs = false
        for b in field.utf8 where (b < 0x20 && b != 0x09 && b != 0x0a) || b == 0x7f {
            needs = true
            break
        }
        guard needs else { return field }
        var scalars = String.UnicodeScalarView()
        for s in field.unicodeScalars where !((s.value < 0x20 && s.value != 0x09 && s.value != 0x0a) || s.value == 0x7f) {
            scalars.append(s)
        }
        return String(scalars)
    }

    /// A note's `flds` as UTF-8 bytes with `removeInvalidCharacters` applied to every field (the
    /// U+001F separators kept), and the byte range of each field in those bytes.
    public static func splitFields(_ flds: UnsafeRawBufferPointer) -> (cleaned: [UInt8], ranges: [Range<Int>]) {
        var cleaned: [UInt8] = []
        cleaned.reserveCapacity(flds.count)
        var ranges: [Range<Int>] = []
        var start = 0
        for b in flds {
            if b == 0x1f {
                ranges.append(start..<cleaned.count)
                cleaned.append(b)
                start = cleaned.count
            } else if (b < 0x20 && b != 0x09 && b != 0x0a) || b == 0x7f {
                continue
            } else {
                cleaned.append(b)
            }
        }
        ranges.append(start..<cleaned.count)
        return (cleaned, ranges)
    }

    /// `csum`: the first four bytes of SHA-1 over the stripped first field, big-endian.
    public static func checksum(_ stripped: String) -> Int64 {
        var text = stripped
        let digest = text.withUTF8 { Insecure.SHA1.hash(data: UnsafeRawBufferPointer($0)) }
        return digest.withUnsafeBytes { d in
            Int64(UInt32(d[0]) << 24 | UInt32(d[1]) << 16 | UInt32(d[2]) << 8 | UInt32(d[3]))
        }
    }

    private static let mediaTagNames: [[UInt8]] = ["<img", "<audio", "<video", "<object", "<source"].map { Array($0.utf8) }
    /// "ſ" folds to "s", so `<ſource` is a media tag too.
    private static let longS: [UInt8] = Array("ſ".utf8)

    /// HTML removed (media file names kept), entities decoded, no trimming.
    public static func stripHTMLPreservingMediaFilenames(_ html: String) -> String {
        var text = html
        if text.utf8.contains(UInt8(ascii: "<")) {
            var bytes = Array(text.utf8)
            if mediaTagNames.contains(where: { containsCaseInsensitive(bytes, $0) }) || containsCaseInsensitive(bytes, longS) {
                text = MediaTagRewriter.rewrite(text)
                bytes = Array(text.utf8)
            }
            text = String(decoding: stripTags(bytes), as: UTF8.self)
        }
        if text.utf8.contains(UInt8(ascii: "&")) {
            if let decoded = decodeEntities(text) {
                text = String(String.UnicodeScalarView(decoded.unicodeScalars.map { $0 == "\u{a0}" ? " " : $0 }))
            }
        }
        return text
    }

    /// Removes, leftmost first: `<!--…-->`, `<style…>…</style>`, `<script…>…</script>` and any
    /// other `<…>` (shortest matches, case-insensitive, across newlines), like the reference's
    /// one regular expression with four alternatives.
    static func stripTags(_ b: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(b.count)
        let lt = UInt8(ascii: "<"), gt = UInt8(ascii: ">")
        func find(_ needle: [UInt8], from: Int, caseInsensitive: Bool = false) -> Int? {
            guard needle.count <= b.count else { return nil }
            var i = from
            while i + needle.count <= b.count {
                var ok = true
                for k in 0..<needle.count {
                    let x = b[i + k], y = needle[k]
                    if x != y && !(caseInsensitive && lower(x) == y) { ok = false; break }
                }
                if ok { return i }
                i += 1
            }
            return nil
        }
        func hasPrefix(_ p: [UInt8], at i: Int) -> Bool {
            guard i + p.count <= b.count else { return false }
            for k in 0..<p.count where lower(b[i + k]) != p[k] { return false }
            return true
        }
        let comment = Array("<!--".utf8), commentEnd = Array("-->".utf8)
        let style = Array("<style".utf8), styleEnd = Array("</style>".utf8)
        let script = Array("<script".utf8), scriptEnd = Array("</script>".utf8)
        var i = 0
        while i < b.count {
            guard b[i] == lt else {
                out.append(b[i])
                i += 1
                continue
            }
            if hasPrefix(comment, at: i), let e = find(commentEnd, from: i + 4) {
                i = e + 3
                continue
            }
            var matched = false
            for (open, close) in [(style, styleEnd), (script, scriptEnd)] where hasPrefix(open, at: i) {
                if let g = b[(i + open.count)...].firstIndex(of: gt), let e = find(close, from: g + 1, caseInsensitive: true) {
                    i = e + close.count
                    matched = true
                    break
                }
            }
            if matched { continue }
            if let g = b[(i + 1)...].firstIndex(of: gt) {
                i = g + 1
                continue
            }
            out.append(b[i])
            i += 1
        }
        return out
    }

    @inline(__always) static func lower(_ c: UInt8) -> UInt8 {
        (c >= 65 && c <= 90) ? c + 32 : c
    }

    static func containsCaseInsensitive(_ b: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= b.count else { return false }
        var i = 0
        outer: while i + needle.count <= b.count {
            for k in 0..<needle.count where lower(b[i + k]) != needle[k] {
                i += 1
                continue outer
            }
            return true
        }
        return false
    }

    /// Decodes `&name;`, `&#NN;`, `&#xHH;`. nil when an entity is malformed or unknown (the caller
    /// then keeps the text as it was, like the reference).
    static func decodeEntities(_ text: String) -> String? {
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            guard c == "&" else {
                out.append(c)
                i += 1
                continue
            }
            var j = i + 1
            var name = ""
            while j < scalars.count, scalars[j] != ";", j - i <= 40 {
                name.unicodeScalars.append(scalars[j])
                j += 1
            }
            guard j < scalars.count, scalars[j] == ";", !name.isEmpty else { return nil }
            if name.hasPrefix("#") {
                let digits = name.dropFirst()
                let value: UInt32?
                if digits.hasPrefix("x") || digits.hasPrefix("X") {
                    value = UInt32(digits.dropFirst(), radix: 16)
                } else {
                    value = UInt32(digits, radix: 10)
                }
                guard let v = value, let s = Unicode.Scalar(v) else { return nil }
                out.append(s)
            } else {
                guard let s = namedEntities[name] else { return nil }
                out.append(contentsOf: s.unicodeScalars)
            }
            i = j + 1
        }
        return String(out)
    }

    /// The named entities seen in practice (HTML 4 set: Latin-1, symbols, Greek, punctuation).
    static let namedEntities: [String: String] = {
        var m: [String: String] = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'"]
        let latin1 = ["nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
                      "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro", "para",
                      "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest", "Agrave",
                      "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave", "Eacute", "Ecirc",
                      "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve", "Oacute", "Ocirc",
                      "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc", "Uuml", "Yacute", "THORN",
                      "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring", "aelig", "ccedil", "egrave",
                      "eacute", "ecirc", "euml", "igrave", "iacute", "icirc", "iuml", "eth", "ntilde", "ograve",
                      "oacute", "ocirc", "otilde", "ouml", "divide", "oslash", "ugrave", "uacute", "ucirc", "uuml",
                      "yacute", "thorn", "yuml"]
        for (k, name) in latin1.enumerated() { m[name] = String(Unicode.Scalar(UInt32(0xa0 + k))!) }
        let others: [(String, UInt32)] = [
            ("OElig", 338), ("oelig", 339), ("Scaron", 352), ("scaron", 353), ("Yuml", 376), ("fnof", 402),
            ("circ", 710), ("tilde", 732), ("ensp", 8194), ("emsp", 8195), ("thinsp", 8201), ("zwnj", 8204),
            ("zwj", 8205), ("lrm", 8206), ("rlm", 8207), ("ndash", 8211), ("mdash", 8212), ("lsquo", 8216),
            ("rsquo", 8217), ("sbquo", 8218), ("ldquo", 8220), ("rdquo", 8221), ("bdquo", 8222), ("dagger", 8224),
            ("Dagger", 8225), ("bull", 8226), ("hellip", 8230), ("permil", 8240), ("prime", 8242), ("Prime", 8243),
            ("lsaquo", 8249), ("rsaquo", 8250), ("oline", 8254), ("frasl", 8260), ("euro", 8364), ("image", 8465),
            ("weierp", 8472), ("real", 8476), ("trade", 8482), ("alefsym", 8501), ("larr", 8592), ("uarr", 8593),
            ("rarr", 8594), ("darr", 8595), ("harr", 8596), ("crarr", 8629), ("lArr", 8656), ("uArr", 8657),
            ("rArr", 8658), ("dArr", 8659), ("hArr", 8660), ("forall", 8704), ("part", 8706), ("exist", 8707),
            ("empty", 8709), ("nabla", 8711), ("isin", 8712), ("notin", 8713), ("ni", 8715), ("prod", 8719),
            ("sum", 8721), ("minus", 8722), ("lowast", 8727), ("radic", 8730), ("prop", 8733), ("infin", 8734),
            ("ang", 8736), ("and", 8743), ("or", 8744), ("cap", 8745), ("cup", 8746), ("int", 8747),
            ("there4", 8756), ("sim", 8764), ("cong", 8773), ("asymp", 8776), ("ne", 8800), ("equiv", 8801),
            ("le", 8804), ("ge", 8805), ("sub", 8834), ("sup", 8835), ("nsub", 8836), ("sube", 8838),
            ("supe", 8839), ("oplus", 8853), ("otimes", 8855), ("perp", 8869), ("sdot", 8901), ("lceil", 8968),
            ("rceil", 8969), ("lfloor", 8970), ("rfloor", 8971), ("lang", 9001), ("rang", 9002), ("loz", 9674),
            ("spades", 9824), ("clubs", 9827), ("hearts", 9829), ("diams", 9830),
        ]
        for (name, v) in others { m[name] = String(Unicode.Scalar(v)!) }
        let greekUpper = ["Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta", "Eta", "Theta", "Iota", "Kappa",
                          "Lambda", "Mu", "Nu", "Xi", "Omicron", "Pi", "Rho", "", "Sigma", "Tau", "Upsilon", "Phi",
                          "Chi", "Psi", "Omega"]
        for (k, name) in greekUpper.enumerated() where !name.isEmpty {
            m[name] = String(Unicode.Scalar(UInt32(0x391 + k))!)
            m[name.prefix(1).lowercased() + name.dropFirst()] = String(Unicode.Scalar(UInt32(0x3b1 + k))!)
        }
        m["sigmaf"] = "\u{3c2}"
        m["thetasym"] = "\u{3d1}"
        m["upsih"] = "\u{3d2}"
        m["piv"] = "\u{3d6}"
        return m
    }()
}
