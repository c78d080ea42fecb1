import Shared

/// Deck schema-11 JSON (normal and filtered) ⇄ `decks` row (COLLECTION.md §3.2).
public enum DeckCodec {
    static let reservedKeys: Set<String> = [
        "usn", "revToday", "newLimit", "dyn", "reviewLimit", "newToday", "timeToday", "reviewLimitToday",
        "extendNew", "mod", "newLimitToday", "desc", "name", "lrnToday", "conf", "browserCollapsed",
        "extendRev", "id", "collapsed", "desiredRetention",
    ]

    // MARK: Names

    /// `A::B` → native `A\u{1f}B`: each component in NFC, ASCII control characters removed,
    /// whitespace and ':' trimmed from both ends, empty → "blank".
    public static func nativeName(fromHuman name: String) -> String {
        splitOnDoubleColon(name).map(normalizedComponent).joined(separator: "\u{1f}")
    }

    /// Native `A\u{1f}B` → `A::B`.
    public static func humanName(fromNative name: String) -> String {
        guard name.unicodeScalars.contains("\u{1f}") else { return name }
        var out = String.UnicodeScalarView()
        for s in name.unicodeScalars {
            if s == "\u{1f}" { out.append(":"); out.append(":") } else { out.append(s) }
        }
        return String(out)
    }

    /// Splits on non-overlapping "::" from the left (Rust `str::split("::")`).
    static func splitOnDoubleColon(_ s: String) -> [String] {
        var parts: [String] = []
        var current = String.UnicodeScalarView()
        let scalars = Array(s.unicodeScalars)
        var i = 0
        while i < scalars.count {
            if scalars[i] == ":" && i + 1 < scalars.count && scalars[i + 1] == ":" {
                parts.append(String(current))
                current = String.UnicodeScalarView()
                i += 2
            } else {
                current.append(scalars[i])
                i += 1
            }
        }
        parts.append(String(current))
        return parts
    }

    static func normalizedComponent(_ comp: String) -> String {
        let nfc = comp.nfc
        var scalars = Array(nfc.unicodeScalars.filter { !($0.value < 0x20 || $0.value == 0x7f) })
        func trimmed(_ s: Unicode.Scalar) -> Bool { s.properties.isWhitespace || s == ":" }
        while let f = scalars.first, trimmed(f) { scalars.removeFirst() }
        while let l = scalars.last, trimmed(l) { scalars.removeLast() }
        if scalars.isEmpty { return "blank" }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    // MARK: JSON → row

    struct Today { var day: Int32 = 0; var amount: Int32 = 0 }

    /// `[day, amount]`, read from the end: missing or non-integer elements count as 0.
    static func today(_ v: JSONValue) -> Today? {
        guard case .array(var a) = v else { return nil }
        func take() -> Int32 {
            guard let last = a.popLast(), case .int(let i) = last else { return 0 }
            return Int32(truncatingIfNeeded: i)
        }
        let amount = take()
        let day = take()
        return Today(day: day, amount: amount)
    }

    struct DayLimit { var limit: UInt32; var today: UInt32 }

    static func dayLimit(_ v: JSONValue) -> DayLimit? {
        switch v {
        case .object(let o):
            guard let l = o["limit"].flatMap(Strict.u32), let t = o["today"].flatMap(Strict.u32) else { return nil }
            return DayLimit(limit: l, today: t)
        case .array(let a):
            guard a.count == 2, let l = Strict.u32(a[0]), let t = Strict.u32(a[1]) else { return nil }
            return DayLimit(limit: l, today: t)
        default: return nil
        }
    }

    struct SearchTerm { var search: String; var limit: Int32; var order: Int32 }

    static func searchTerm(_ v: JSONValue) -> SearchTerm? {
        let parts: [JSONValue]
        switch v {
        case .array(let a):
            guard a.count == 3 else { return nil }
            parts = a
        case .object(let o):
            guard let s = o["search"], let l = o["limit"], let ord = o["order"] else { return nil }
            parts = [s, l, ord]
        default: return nil
        }
        guard let search = parts[0].string,
              let limit = Strict.numberOrString(parts[1], Int64(Int32.min)...Int64(Int32.max)),
              let order = Strict.i32(parts[2])
        else { return nil }
        return SearchTerm(search: search, limit: Int32(limit), order: order)
    }

    public static func row(fromSchema11 json: JSONValue) throws -> DeckRow {
        guard case .object(var object) = json else { throw CodecError("deck: expected a JSON object") }
        guard let dynValue = object["dyn"] else { throw CodecError("deck: missing field `dyn`") }
        let isFiltered: Bool
        switch dynValue {
        case .bool(let b):
            isFiltered = b
            object["dyn"] = .int(b ? 1 : 0)
        case .int(let i): isFiltered = i == 1
        case .double: isFiltered = false
        default: throw CodecError("deck: dyn was wrong type")
        }
        object.removeValue(forKey: "return")

        var r = JSONObjectReader(object: object, what: "deck")
        // common keys
        let id = try r.req("id", Strict.i64OrString)
        let mtime = try r.def("mod", 0, Strict.i64OrString)
        let name = try r.req("name", Strict.string)
        let usn = try r.req("usn", Strict.i32)
        let lrn = try r.req("lrnToday", today)
        let rev = try r.req("revToday", today)
        let new = try r.req("newToday", today)
        let time = try r.req("timeToday", today)
        let studyCollapsed = try r.req("collapsed", Strict.bool)
        let browserCollapsed = try r.def("browserCollapsed", false, Strict.bool)
        let desc = try r.def("desc", "", Strict.string)
        let markdown = try r.def("md", false, Strict.bool)
        _ = try r.req("dyn", Strict.u8)

        var kind = ProtoWriter()
        if isFiltered {
            let resched = try r.req("resched", Strict.boolFromAnything)
            let terms = try r.req("terms") { v -> [SearchTerm]? in
                guard case .array(let a) = v else { return nil }
                var out: [SearchTerm] = []
                for t in a {
                    guard let term = searchTerm(t) else { return nil }
                    out.append(term)
                }
                return out
            }
            _ = try r.def("separate", false, Strict.bool)
            let delays = r.lenientOptional("delays", Strict.f32Array) ?? []
            let previewDelay = try r.def("previewDelay", 0, Strict.u32)
            let previewAgain = try r.def("previewAgainSecs", 0, Strict.u32)
            let previewHard = try r.def("previewHardSecs", 0, Strict.u32)
            let previewGood = try r.def("previewGoodSecs", 0, Strict.u32)

            var f = ProtoWriter()
            f.bool(1, resched)
            for t in terms {
                var m = ProtoWriter()
                m.string(1, t.search)
                m.uint32(2, UInt32(max(t.limit, 0)))
                m.int64(3, Int64(t.order))
                f.message(2, m)
            }
            f.packedFloats(3, delays)
            f.uint32(4, previewDelay)
            f.uint32(5, previewHard)
            f.uint32(6, previewGood)
            f.uint32(7, previewAgain)
            kind.message(2, f)
        } else {
            let conf = try r.req("conf", Strict.i64OrString)
            let extendNew = r.lenient("extendNew", 0, Strict.i32)
            let extendRev = r.lenient("extendRev", 0, Strict.i32)
            let reviewLimit = r.lenientOptional("reviewLimit", Strict.u32)
            let newLimit = r.lenientOptional("newLimit", Strict.u32)
            let reviewLimitToday = r.lenientOptional("reviewLimitToday", dayLimit)
            let newLimitToday = r.lenientOptional("newLimitToday", dayLimit)
            let desiredRetention = r.lenientOptional("desiredRetention", Strict.u32)

            var n = ProtoWriter()
            n.int64(1, conf)
            n.uint32(2, UInt32(max(extendNew, 0)))
            n.uint32(3, UInt32(max(extendRev, 0)))
            n.string(4, desc)
            n.bool(5, markdown)
            if let reviewLimit { n.uint32(present: 6, reviewLimit) }
            if let newLimit { n.uint32(present: 7, newLimit) }
            for (tag, limit) in [(UInt32(8), reviewLimitToday), (9, newLimitToday)] {
                guard let limit else { continue }
                var m = ProtoWriter()
                m.uint32(1, limit.limit)
                m.uint32(2, limit.today)
                n.message(tag, m)
            }
            if let desiredRetention { n.float(present: 10, Float(desiredRetention) / 100) }
            kind.message(1, n)
        }
        let other = r.others()

        // Day counters collapse onto the latest day; amounts from older days are dropped.
        let maxDay = max(time.day, new.day, rev.day)
        var common = ProtoWriter()
        common.bool(1, studyCollapsed)
        common.bool(2, browserCollapsed)
        common.uint32(3, UInt32(bitPattern: maxDay))
        common.int64(4, Int64(new.day == maxDay ? new.amount : 0))
        common.int64(5, Int64(rev.day == maxDay ? rev.amount : 0))
        common.int64(6, Int64(lrn.day == maxDay ? lrn.amount : 0))
        common.int64(7, Int64(time.amount))
        common.bytes(255, OtherJSON.encode(other))

        return DeckRow(id: id, name: nativeName(fromHuman: name), mtimeSecs: mtime, usn: Int64(usn),
                       common: common.bytes, kind: kind.bytes)
    }

    // MARK: Row → JSON

    public static func schema11(from row: DeckRow) throws -> JSONValue {
        let common = try ProtoReader(row.common)
        let container = try ProtoReader(row.kind)
        guard let lastKind = container.fields.last(where: { $0.tag == 1 || $0.tag == 2 })?.tag else {
            throw CodecError("deck \(row.id): kind is neither normal nor filtered")
        }
        let isFiltered = lastKind == 2
        let kind = try container.message(lastKind) ?? ProtoReader([])

        let day = Int64(Int32(bitPattern: try common.uint32(3)))
        var o = JSONObject()
        o["id"] = .int(row.id)
        o["mod"] = .int(row.mtimeSecs)
        o["name"] = .string(humanName(fromNative: row.name))
        o["usn"] = .int(Int64(Int32(truncatingIfNeeded: row.usn)))
        o["lrnToday"] = .array([.int(day), .int(Int64(try common.int32(6)))])
        o["revToday"] = .array([.int(day), .int(Int64(try common.int32(5)))])
        o["newToday"] = .array([.int(day), .int(Int64(try common.int32(4)))])
        o["timeToday"] = .array([.int(day), .int(Int64(try common.int32(7)))])
        o["collapsed"] = .bool(try common.bool(1))
        o["browserCollapsed"] = .bool(try common.bool(2))
        if isFiltered {
            o["desc"] = .string("")
        } else {
            o["desc"] = .string(try kind.string(4))
            if try kind.bool(5) { o["md"] = .bool(true) }
        }
        o["dyn"] = .int(isFiltered ? 1 : 0)
        o.appendOthers(OtherJSON.decode(try common.bytes(255), reserved: reservedKeys))

        if isFiltered {
            o["resched"] = .bool(try kind.bool(1))
            o["terms"] = .array(try kind.messages(2).map { t in
                .array([
                    .string(try t.string(1)),
                    .int(Int64(Int32(bitPattern: try t.uint32(2)))),
                    .int(Int64(try t.enumValue(3))),
                ])
            })
            o["separate"] = .bool(true)
            let delays = try kind.floats(3)
            o["delays"] = delays.isEmpty ? .null : Emit.f32Array(delays)
            o["previewDelay"] = .int(Int64(try kind.uint32(4)))
            o["previewAgainSecs"] = .int(Int64(try kind.uint32(7)))
            o["previewHardSecs"] = .int(Int64(try kind.uint32(5)))
            o["previewGoodSecs"] = .int(Int64(try kind.uint32(6)))
        } else {
            func limitJSON(_ tag: UInt32) throws -> JSONValue {
                guard let m = try kind.message(tag) else { return .null }
                return .object(JSONObject([("limit", .int(Int64(try m.uint32(1)))), ("today", .int(Int64(try m.uint32(2))))]))
            }
            o["conf"] = .int(try kind.int64(1))
            o["extendNew"] = .int(Int64(Int32(bitPattern: try kind.uint32(2))))
            o["extendRev"] = .int(Int64(Int32(bitPattern: try kind.uint32(3))))
            o["reviewLimit"] = try kind.optionalUInt32(6).map { .int(Int64($0)) } ?? .null
            o["newLimit"] = try kind.optionalUInt32(7).map { .int(Int64($0)) } ?? .null
            o["reviewLimitToday"] = try limitJSON(8)
            o["newLimitToday"] = try limitJSON(9)
            o["desiredRetention"] = try kind.optionalFloat(10).map { .int(Int64(Emit.saturatingU32($0 * 100))) } ?? .null
        }
        return .object(o)
    }
}
