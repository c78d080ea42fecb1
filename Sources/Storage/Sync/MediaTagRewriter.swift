/// Replaces each media tag (`<img|audio|video|object|source … src=… >` or `data=…`) with
/// `" filename "`, as the reference does before stripping HTML for sort fields and checksums.
///
/// The reference uses one case-insensitive regular expression with lazy quantifiers, and the
/// file name it keeps depends on that expression's backtracking order. This is a direct matcher for
/// the same language with the same priorities, so it needs no regex engine:
///
///     <  (img|audio|video|object|source)  \b
///     ( [^>] | "[^"]+" | '[^']+' )+?            attributes before the one we want (lazy)
///     \b (src|data) =
///     ( " ([^"]+) " [^>]* >  |  ' ([^']+) ' [^>]* >  |  ([^ >]+) ( ␠[^>]*> | > ) )
///
/// Matches are leftmost and non-overlapping; text outside them is copied unchanged.
enum MediaTagRewriter {
    private static let tagNames: [[Unicode.Scalar]] = ["img", "audio", "video", "object", "source"].map { Array($0.unicodeScalars) }
    private static let attributeNames: [[Unicode.Scalar]] = ["src", "data"].map { Array($0.unicodeScalars) }

    static func rewrite(_ text: String) -> String {
        let t = Text(text)
        var out = String.UnicodeScalarView()
        var copied = 0
        var i = 0
        while i < t.s.count {
            if t.s[i] == "<", let m = match(t, at: i) {
                out.append(contentsOf: t.s[copied..<i])
                out.append(" ")
                out.append(contentsOf: t.s[m.name])
                out.append(" ")
                copied = m.end
                i = m.end
            } else {
                i += 1
            }
        }
        if copied == 0 { return text }
        out.append(contentsOf: t.s[copied...])
        return String(out)
    }

    /// The text as scalars, with the next position of each delimiter precomputed so that every step
    /// of the matcher is constant time (no input makes it quadratic).
    private struct Text {
        let s: [Unicode.Scalar]
        /// For each position i: the first j >= i holding `>` / `"` / `'` / a space or `>`; `s.count` if none.
        let nextGT: [Int], nextDQ: [Int], nextSQ: [Int], nextSpaceOrGT: [Int]

        init(_ text: String) {
            s = Array(text.unicodeScalars)
            var gt = [Int](repeating: s.count, count: s.count + 1)
            var dq = gt, sq = gt, sp = gt
            for i in stride(from: s.count - 1, through: 0, by: -1) {
                let c = s[i]
                gt[i] = c == ">" ? i : gt[i + 1]
                dq[i] = c == "\"" ? i : dq[i + 1]
                sq[i] = c == "'" ? i : sq[i + 1]
                sp[i] = (c == " " || c == ">") ? i : sp[i + 1]
            }
            nextGT = gt; nextDQ = dq; nextSQ = sq; nextSpaceOrGT = sp
        }

        /// For a quote at `pos`: the index of its closing quote when at least one other character
        /// lies between them.
        func closingQuote(at pos: Int) -> Int? {
            let q = s[pos]
            guard q == "\"" || q == "'", pos + 2 < s.count, s[pos + 1] != q else { return nil }
            let close = (q == "\"" ? nextDQ : nextSQ)[pos + 2]
            return close < s.count ? close : nil
        }

        func gtAtOrAfter(_ pos: Int) -> Int? {
            pos <= s.count && nextGT[pos] < s.count ? nextGT[pos] : nil
        }
    }

    /// A match starting at `start` (which holds `<`): the range of the kept file name and the end.
    private static func match(_ t: Text, at start: Int) -> (name: Range<Int>, end: Int)? {
        let s = t.s
        guard let afterTag = tagNames.lazy.compactMap({ matchWord(s, $0, at: start + 1) }).first,
              !(afterTag < s.count && isWord(s[afterTag])) else { return nil }
        // The attribute run is lazy: after each step the attribute is tried before the run grows, and
        // a run grows by one character before it tries jumping over a quoted string. This walks the
        // positions depth-first in exactly that order (an explicit stack: runs can be long). Positions
        // only increase along a path, and a position that failed once fails again however it was
        // reached, so each is explored at most once.
        var failed = Set<Int>()
        var stack: [(pos: Int, stage: UInt8)] = [(afterTag, 0)]
        while let top = stack.last {
            let pos = top.pos, depth = stack.count - 1
            switch top.stage {
            case 0:
                stack[depth].stage = 1
                if depth > 0 {
                    if failed.contains(pos) { stack.removeLast(); continue }
                    if let m = matchAttribute(t, at: pos) { return m }
                }
                if pos < s.count, s[pos] != ">" { stack.append((pos + 1, 0)) }
            case 1:
                stack[depth].stage = 2
                if pos < s.count, let close = t.closingQuote(at: pos) { stack.append((close + 1, 0)) }
            default:
                if depth > 0 { failed.insert(pos) }
                stack.removeLast()
            }
        }
        return nil
    }

    /// `\b(src|data)=` followed by a value, at `pos`.
    private static func matchAttribute(_ t: Text, at pos: Int) -> (name: Range<Int>, end: Int)? {
        let s = t.s
        if pos > 0, isWord(s[pos - 1]) { return nil }
        guard let afterName = attributeNames.lazy.compactMap({ matchWord(s, $0, at: pos) }).first,
              afterName < s.count, s[afterName] == "=" else { return nil }
        let v = afterName + 1
        guard v < s.count else { return nil }
        // A quoted value: at least one character up to the matching quote, then the tag's end.
        if let close = t.closingQuote(at: v), let gt = t.gtAtOrAfter(close + 1) {
            return (v + 1..<close, gt + 1)
        }
        // Unquoted: the run up to a space or `>`; after a space the tag must still end somewhere.
        let e = t.nextSpaceOrGT[v]
        guard e > v, e < s.count else { return nil }
        if s[e] == ">" { return (v..<e, e + 1) }
        guard let gt = t.gtAtOrAfter(e + 1) else { return nil }
        return (v..<e, gt + 1)
    }

    /// The end of `word` matched case-insensitively at `pos` (simple case folding, so `ſ` is an `s`).
    private static func matchWord(_ s: [Unicode.Scalar], _ word: [Unicode.Scalar], at pos: Int) -> Int? {
        guard pos + word.count <= s.count else { return nil }
        for (k, w) in word.enumerated() {
            let c = s[pos + k]
            let lowered = (c.value >= 65 && c.value <= 90) ? c.value + 32 : c.value
            guard lowered == w.value || (w == "s" && c.value == 0x17F) else { return nil }
        }
        return pos + word.count
    }

    /// Unicode `\w`: alphabetic, marks, decimal digits, connector punctuation, joiners.
    private static func isWord(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII {
            let v = c.value
            return (v >= 48 && v <= 57) || (v >= 65 && v <= 90) || (v >= 97 && v <= 122) || v == 95
        }
        let p = c.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}
