import Shared

/// Notetype ("model") schema-11 JSON ⇄ `notetypes` + `fields` + `templates` rows (COLLECTION.md §3.1).
public enum NotetypeCodec {
    static let reservedKeys: Set<String> = [
        "id", "name", "type", "mod", "usn", "sortf", "did", "tmpls", "flds", "css", "latexPre",
        "latexPost", "latexsvg", "req", "originalStockKind", "originalId",
    ]
    static let reservedFieldKeys: Set<String> = [
        "name", "ord", "sticky", "rtl", "plainText", "font", "size", "collapsed", "description",
        "excludeFromSearch", "id", "tag", "preventDeletion",
    ]
    static let reservedTemplateKeys: Set<String> = [
        "name", "ord", "did", "afmt", "bafmt", "qfmt", "bqfmt", "bfont", "bsize", "id",
    ]

    /// Card requirement kinds: protobuf value ⇄ JSON string.
    static let requirementKinds: [(Int32, String)] = [(0, "none"), (1, "any"), (2, "all")]

    // MARK: JSON → rows

    public static func row(fromSchema11 json: JSONValue) throws -> NotetypeRow {
        var r = try JSONObjectReader(json, what: "notetype")
        let id = try r.req("id", Strict.i64OrString)
        let name = try r.req("name", Strict.string)
        let kind = try r.req("type") { Strict.int($0, 0...1) }
        let mtime = try r.req("mod", Strict.i64)
        let usn = try r.req("usn", Strict.i32)
        let sortf = try r.req("sortf", Strict.u16)
        // `did` must be present; null or anything that is not an i64 counts as "no deck".
        guard let didValue = r.consume("did") else { throw CodecError("notetype: missing field `did`") }
        let did = Strict.i64(didValue)
        let tmplValues = try r.req("tmpls") { $0.array }
        let fldValues = try r.req("flds") { $0.array }
        let css = try r.reqOrDefault("css", "", Strict.string)
        let latexPre = try r.def("latexPre", "", Strict.string)
        let latexPost = try r.def("latexPost", "", Strict.string)
        let latexSvg = r.lenient("latexsvg", false, Strict.bool)
        let reqs = r.lenient("req", [], parseRequirements)
        let originalStockKind = try r.def("originalStockKind", 0, Strict.i32)
        let originalId = try r.optional("originalId", Strict.i64)
        let other = r.others()

        // Fields and templates are parsed in the reference's struct order (templates come first).
        let templates = try tmplValues.enumerated().map { try templateRow(fromSchema11: $1, ord: Int64($0)) }
        let fields = try fldValues.enumerated().map { try fieldRow(fromSchema11: $1, ord: Int64($0)) }

        var w = ProtoWriter()
        w.int64(1, kind)
        w.uint32(2, UInt32(sortf))
        w.string(3, css)
        w.int64(4, did ?? 0)
        w.string(5, latexPre)
        w.string(6, latexPost)
        w.bool(7, latexSvg)
        for req in reqs {
            var m = ProtoWriter()
            m.uint32(1, UInt32(req.cardOrd))
            m.int64(2, Int64(req.kind))
            m.packedUInt32(3, req.fieldOrds.map { UInt32($0) })
            w.message(8, m)
        }
        w.int64(9, Int64(originalStockKind))
        if let originalId { w.int64(present: 10, originalId) }
        w.bytes(255, OtherJSON.encode(other))
        return NotetypeRow(id: id, name: name, mtimeSecs: mtime, usn: Int64(usn), config: w.bytes,
                           fields: fields, templates: templates)
    }

    struct Requirement { var cardOrd: UInt16; var kind: Int32; var fieldOrds: [UInt16] }

    /// `req`: a list of `[card_ord, "any"|"all"|"none", [field_ords]]` (or objects with those
    /// names); any invalid entry makes the whole list invalid.
    static func parseRequirements(_ v: JSONValue) -> [Requirement]? {
        guard case .array(let items) = v else { return nil }
        var out: [Requirement] = []
        for item in items {
            let parts: [JSONValue]
            switch item {
            case .array(let a):
                guard a.count == 3 else { return nil }
                parts = a
            case .object(let o):
                guard let a = o["card_ord"], let b = o["kind"], let c = o["field_ords"] else { return nil }
                parts = [a, b, c]
            default: return nil
            }
            guard let ord = Strict.u16(parts[0]),
                  let kindName = parts[1].string,
                  let kind = requirementKinds.first(where: { $0.1 == kindName })?.0,
                  let fieldOrds = Strict.u16Array(parts[2])
            else { return nil }
            out.append(Requirement(cardOrd: ord, kind: kind, fieldOrds: fieldOrds))
        }
        return out
    }

    static func fieldRow(fromSchema11 json: JSONValue, ord: Int64) throws -> FieldRow {
        var r = try JSONObjectReader(json, what: "notetype field")
        let name = try r.req("name", Strict.string)
        _ = try r.optional("ord", Strict.u16)  // checked, then ignored: the array position wins
        let sticky = try r.req("sticky", Strict.boolFromAnything)
        let rtl = try r.req("rtl", Strict.boolFromAnything)
        let font = try r.req("font", Strict.string)
        let size = try r.req("size", Strict.u16)
        let description = r.lenient("description", "", Strict.string)
        let plainText = r.lenient("plainText", false, Strict.bool)
        let collapsed = r.lenient("collapsed", false, Strict.bool)
        let excludeFromSearch = r.lenient("excludeFromSearch", false, Strict.bool)
        let id = r.lenientOptional("id", Strict.i64)
        let tag = r.lenientOptional("tag", Strict.u32)
        let preventDeletion = r.lenient("preventDeletion", false, Strict.bool)
        let other = r.others()

        var w = ProtoWriter()
        w.bool(1, sticky)
        w.bool(2, rtl)
        w.string(3, font)
        w.uint32(4, UInt32(size))
        w.string(5, description)
        w.bool(6, plainText)
        w.bool(7, collapsed)
        w.bool(8, excludeFromSearch)
        if let id { w.int64(present: 9, id) }
        if let tag { w.uint32(present: 10, tag) }
        w.bool(11, preventDeletion)
        w.bytes(255, OtherJSON.encode(other))
        return FieldRow(ord: ord, name: name, config: w.bytes)
    }

    static func templateRow(fromSchema11 json: JSONValue, ord: Int64) throws -> TemplateRow {
        var r = try JSONObjectReader(json, what: "notetype template")
        let name = try r.req("name", Strict.string)
        _ = try r.optional("ord", Strict.u16)
        let qfmt = try r.req("qfmt", Strict.string)
        let afmt = try r.def("afmt", "", Strict.string)
        let bqfmt = try r.def("bqfmt", "", Strict.string)
        let bafmt = try r.def("bafmt", "", Strict.string)
        let did = r.lenientOptional("did", Strict.i64)
        let bfont = r.lenient("bfont", "", Strict.string)
        let bsize = r.lenient("bsize", 0, Strict.u8)
        let id = r.lenientOptional("id", Strict.i64)
        let other = r.others()

        var w = ProtoWriter()
        w.string(1, qfmt)
        w.string(2, afmt)
        w.string(3, bqfmt)
        w.string(4, bafmt)
        w.int64(5, did ?? 0)
        w.string(6, bfont)
        w.uint32(7, UInt32(bsize))
        if let id { w.int64(present: 8, id) }
        w.bytes(255, OtherJSON.encode(other))
        // Templates that arrive through sync get mtime 0 and usn 0 (§3.1).
        return TemplateRow(ord: ord, name: name, mtimeSecs: 0, usn: 0, config: w.bytes)
    }

    // MARK: Rows → JSON

    public static func schema11(from row: NotetypeRow) throws -> JSONValue {
        let c = try ProtoReader(row.config)
        let kind = try c.enumValue(1)
        let sortIdx = try c.uint32(2)
        let targetDeck = try c.int64(4)
        let originalStockKind = try c.enumValue(9)
        let originalId = try c.optionalInt64(10)

        var reqs: [JSONValue] = []
        for m in try c.messages(8) {
            let k = try m.enumValue(2)
            let name = requirementKinds.first { $0.0 == k }?.1 ?? "none"
            reqs.append(.array([
                .int(Int64(UInt16(truncatingIfNeeded: try m.uint32(1)))),
                .string(name),
                .array(try m.uint32s(3).map { .int(Int64(UInt16(truncatingIfNeeded: $0))) }),
            ]))
        }

        var o = JSONObject()
        o["id"] = .int(row.id)
        o["name"] = .string(row.name)
        o["type"] = .int(kind == 1 ? 1 : 0)
        o["mod"] = .int(row.mtimeSecs)
        o["usn"] = .int(Int64(Int32(truncatingIfNeeded: row.usn)))
        o["sortf"] = .int(Int64(UInt16(truncatingIfNeeded: sortIdx)))
        o["did"] = targetDeck == 0 ? .null : .int(targetDeck)
        o["tmpls"] = .array(try row.templates.map(templateJSON))
        o["flds"] = .array(try row.fields.map(fieldJSON))
        o["css"] = .string(try c.string(3))
        o["latexPre"] = .string(try c.string(5))
        o["latexPost"] = .string(try c.string(6))
        o["latexsvg"] = .bool(try c.bool(7))
        o["req"] = .array(reqs)
        if originalStockKind != 0 { o["originalStockKind"] = .int(Int64(originalStockKind)) }
        if let originalId { o["originalId"] = .int(originalId) }
        o.appendOthers(OtherJSON.decode(try c.bytes(255), reserved: reservedKeys))
        return .object(o)
    }

    static func fieldJSON(_ f: FieldRow) throws -> JSONValue {
        let c = try ProtoReader(f.config)
        var o = JSONObject()
        o["name"] = .string(f.name)
        o["ord"] = .int(Int64(UInt16(truncatingIfNeeded: f.ord)))
        o["sticky"] = .bool(try c.bool(1))
        o["rtl"] = .bool(try c.bool(2))
        o["font"] = .string(try c.string(3))
        o["size"] = .int(Int64(UInt16(truncatingIfNeeded: try c.uint32(4))))
        o["description"] = .string(try c.string(5))
        o["plainText"] = .bool(try c.bool(6))
        o["collapsed"] = .bool(try c.bool(7))
        o["excludeFromSearch"] = .bool(try c.bool(8))
        o["id"] = try c.optionalInt64(9).map { .int($0) } ?? .null
        o["tag"] = try c.optionalUInt32(10).map { .int(Int64($0)) } ?? .null
        o["preventDeletion"] = .bool(try c.bool(11))
        o.appendOthers(OtherJSON.decode(try c.bytes(255), reserved: reservedFieldKeys))
        return .object(o)
    }

    static func templateJSON(_ t: TemplateRow) throws -> JSONValue {
        let c = try ProtoReader(t.config)
        let did = try c.int64(5)
        var o = JSONObject()
        o["name"] = .string(t.name)
        o["ord"] = .int(Int64(UInt16(truncatingIfNeeded: t.ord)))
        o["qfmt"] = .string(try c.string(1))
        o["afmt"] = .string(try c.string(2))
        o["bqfmt"] = .string(try c.string(3))
        o["bafmt"] = .string(try c.string(4))
        o["did"] = did > 0 ? .int(did) : .null
        o["bfont"] = .string(try c.string(6))
        o["bsize"] = .int(Int64(UInt8(truncatingIfNeeded: try c.uint32(7))))
        o["id"] = try c.optionalInt64(8).map { .int($0) } ?? .null
        o.appendOthers(OtherJSON.decode(try c.bytes(255), reserved: reservedTemplateKeys))
        return .object(o)
    }
}
