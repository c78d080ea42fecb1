import Shared
import Storage

/// Decoding of normal-sync request bodies and encoding of replies (PROTOCOL §6, COLLECTION §4.2).
/// Liberal where the reference is (floats for some integer fields, string grave ids, rows as
/// arrays or objects); anything else that does not fit throws `SyncDataError` naming the problem.
enum SyncWire {
    static func fail(_ message: String) -> SyncDataError { SyncDataError(message) }

    static func parse(_ body: [UInt8], _ what: @autoclosure () -> String) throws -> JSONValue {
        do { return try JSON.parse(body) } catch {
            throw fail("\(what()): body is not valid JSON (\(error))")
        }
    }

    static func object(_ v: JSONValue?, _ what: @autoclosure () -> String) throws -> JSONObject {
        guard let v, case .object(let o) = v else { throw fail("\(what()): expected a JSON object") }
        return o
    }

    static func array(_ v: JSONValue?, _ what: @autoclosure () -> String) throws -> [JSONValue] {
        guard let v, case .array(let a) = v else { throw fail("\(what()): expected a JSON array") }
        return a
    }

    /// An absent or null list is empty.
    static func optionalArray(_ v: JSONValue?, _ what: @autoclosure () -> String) throws -> [JSONValue] {
        guard let v, !v.isNull else { return [] }
        return try array(v, what())
    }

    /// An integer (floats only when `floats`, truncated toward zero), checked against `range`.
    static func int(_ v: JSONValue?, _ what: @autoclosure () -> String, floats: Bool = false,
                    _ range: ClosedRange<Int64> = Int64.min...Int64.max) throws -> Int64 {
        let value: Int64
        switch v {
        case .int(let i)?:
            value = i
        case .double(let d)? where floats:
            guard d.isFinite, d > -9.2e18, d < 9.2e18 else { throw fail("\(what()): number \(d) out of range") }
            value = Int64(d.rounded(.towardZero))
        case nil:
            throw fail("\(what()): missing")
        case let other?:
            throw fail("\(what()): expected an integer, got \(other)")
        }
        guard range.contains(value) else { throw fail("\(what()): \(value) out of range \(range.lowerBound)…\(range.upperBound)") }
        return value
    }

    static func string(_ v: JSONValue?, _ what: @autoclosure () -> String) throws -> String {
        guard case .string(let s)? = v else { throw fail("\(what()): expected a string") }
        return s
    }

    static func bool(_ v: JSONValue?, _ what: @autoclosure () -> String) throws -> Bool {
        guard case .bool(let b)? = v else { throw fail("\(what()): expected true or false") }
        return b
    }

    static let u8: ClosedRange<Int64> = 0...255
    static let u16: ClosedRange<Int64> = 0...65_535
    static let u32: ClosedRange<Int64> = 0...Int64(UInt32.max)
    static let i32: ClosedRange<Int64> = Int64(Int32.min)...Int64(Int32.max)
    static let positiveId: ClosedRange<Int64> = 1...Int64.max

    /// `emptyInput` for a request outside a session: 400 when the body is anything else.
    static func requireEmptyRequest(_ body: [UInt8], _ what: String) throws(HTTPError) {
        do { try emptyInput(body, what) } catch { throw HTTPError(400, "\(error)") }
    }

    /// `{}`, `{"_pad": null}` or `[]` (the reference refuses other keys and non-empty lists).
    static func emptyInput(_ body: [UInt8], _ what: @autoclosure () -> String) throws {
        let value = try parse(body, what())
        if case .array(let a) = value, a.isEmpty { return }
        let o = try object(value, what())
        for key in o.keys where key != "_pad" {
            throw fail("\(what()): unexpected key \"\(key)\"")
        }
    }

    // MARK: graves

    /// `{"cards": [...], "decks": [...], "notes": [...]}`, ids as numbers or decimal strings.
    static func graves(_ v: JSONValue?, _ what: @autoclosure () -> String) throws -> SyncGraves {
        let o = try object(v, what())
        func ids(_ key: String) throws -> [Int64] {
            try optionalArray(o[key], "\(what()).\(key)").enumerated().map { i, item in
                if case .string(let s) = item {
                    guard let id = Int64(s) else { throw fail("\(what()).\(key)[\(i)]: \"\(s)\" is not an id") }
                    return id
                }
                return try int(item, "\(what()).\(key)[\(i)]")
            }
        }
        return SyncGraves(cards: try ids("cards"), notes: try ids("notes"), decks: try ids("decks"))
    }

    static func writeGraves(_ g: SyncGraves) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(48 + 16 * g.count)
        out += Array(#"{"cards":"#.utf8)
        writeIds(g.cards, into: &out)
        out += Array(#","decks":"#.utf8)
        writeIds(g.decks, into: &out)
        out += Array(#","notes":"#.utf8)
        writeIds(g.notes, into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func writeIds(_ ids: [Int64], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (i, id) in ids.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSON.writeInt(id, into: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    // MARK: chunk rows

    /// A positional row, or an object keyed by field name (first name that is present wins).
    static func fields(_ v: JSONValue, _ names: [[String]], _ what: @autoclosure () -> String) throws -> [JSONValue?] {
        switch v {
        case .array(let a):
            guard a.count == names.count else { throw fail("\(what()): expected \(names.count) elements, got \(a.count)") }
            return a
        case .object(let o):
            return names.map { alternatives in alternatives.lazy.compactMap { o[$0] }.first }
        default:
            throw fail("\(what()): expected an array")
        }
    }

    static let revlogNames: [[String]] = [["id"], ["cid"], ["usn"], ["ease"], ["ivl"], ["lastIvl"], ["factor"], ["time"], ["type"]]
    static let cardNames: [[String]] = [["id"], ["nid"], ["did"], ["ord"], ["mod", "mtime"], ["usn"], ["type", "ctype"],
                                        ["queue"], ["due"], ["ivl"], ["factor"], ["reps"], ["lapses"], ["left"],
                                        ["odue"], ["odid"], ["flags"], ["data"]]
    static let noteNames: [[String]] = [["id"], ["guid"], ["mid", "ntid"], ["mod", "mtime"], ["usn"], ["tags"],
                                        ["flds", "fields"], ["sfld"], ["csum"], ["flags"], ["data"]]

    static func revlog(_ v: JSONValue, _ what: @autoclosure () -> String) throws -> SyncRevlog {
        let f = try fields(v, revlogNames, what())
        // an invalid review kind falls back to 0, like the reference
        let kind: Int64
        if case .int(let k)? = f[8], (0...5).contains(k) { kind = k } else { kind = 0 }
        return SyncRevlog(id: try int(f[0], "\(what()).id", positiveId), cid: try int(f[1], "\(what()).cid"),
                          usn: try int(f[2], "\(what()).usn", i32), ease: try int(f[3], "\(what()).ease", u8),
                          ivl: try int(f[4], "\(what()).ivl", floats: true, i32),
                          lastIvl: try int(f[5], "\(what()).lastIvl", floats: true, i32),
                          factor: try int(f[6], "\(what()).factor", floats: true, u32),
                          time: try int(f[7], "\(what()).time", floats: true, u32), type: kind)
    }

    static func card(_ v: JSONValue, _ what: @autoclosure () -> String) throws -> SyncCard {
        let f = try fields(v, cardNames, what())
        let queue = try int(f[7], "\(what()).queue", -3...4)
        return SyncCard(id: try int(f[0], "\(what()).id", positiveId), nid: try int(f[1], "\(what()).nid", positiveId),
                        did: try int(f[2], "\(what()).did"), ord: try int(f[3], "\(what()).ord", u16),
                        mod: try int(f[4], "\(what()).mod", floats: true), usn: try int(f[5], "\(what()).usn", i32),
                        type: try int(f[6], "\(what()).type", 0...3), queue: queue,
                        due: try int(f[8], "\(what()).due", floats: true, i32),
                        ivl: try int(f[9], "\(what()).ivl", floats: true, u32),
                        factor: try int(f[10], "\(what()).factor", u16), reps: try int(f[11], "\(what()).reps", u32),
                        lapses: try int(f[12], "\(what()).lapses", u32), left: try int(f[13], "\(what()).left", u32),
                        odue: try int(f[14], "\(what()).odue", floats: true, i32), odid: try int(f[15], "\(what()).odid"),
                        flags: try int(f[16], "\(what()).flags", u8), data: try string(f[17], "\(what()).data"))
    }

    static func note(_ v: JSONValue, _ what: @autoclosure () -> String) throws -> SyncNote {
        let f = try fields(v, noteNames, what())
        if let flags = f[9] { _ = try int(flags, "\(what()).flags", u32) }
        return SyncNote(id: try int(f[0], "\(what()).id", positiveId), guid: try string(f[1], "\(what()).guid"),
                        mid: try int(f[2], "\(what()).mid", positiveId), mod: try int(f[3], "\(what()).mod"),
                        usn: try int(f[4], "\(what()).usn", i32), tags: try string(f[5], "\(what()).tags"),
                        flds: try string(f[6], "\(what()).flds"))
    }

    static func writeInt(_ v: Int64, into out: inout [UInt8]) { JSON.writeInt(v, into: &out) }

    /// `,` and the number.
    @inline(__always)
    static func writeNext(_ v: Int64, into out: inout [UInt8]) {
        out.append(UInt8(ascii: ","))
        JSON.writeInt(v, into: &out)
    }

    static func writeRevlog(_ r: SyncRevlog, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        writeInt(r.id, into: &out)
        writeNext(r.cid, into: &out)
        writeNext(r.usn, into: &out)
        writeNext(r.ease, into: &out)
        writeNext(r.ivl, into: &out)
        writeNext(r.lastIvl, into: &out)
        writeNext(r.factor, into: &out)
        writeNext(r.time, into: &out)
        writeNext(r.type, into: &out)
        out.append(UInt8(ascii: "]"))
    }

    static func writeCard(_ c: SyncCard, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        writeInt(c.id, into: &out)
        writeNext(c.nid, into: &out)
        writeNext(c.did, into: &out)
        writeNext(c.ord, into: &out)
        writeNext(c.mod, into: &out)
        writeNext(c.usn, into: &out)
        writeNext(c.type, into: &out)
        writeNext(c.queue, into: &out)
        writeNext(c.due, into: &out)
        writeNext(c.ivl, into: &out)
        writeNext(c.factor, into: &out)
        writeNext(c.reps, into: &out)
        writeNext(c.lapses, into: &out)
        writeNext(c.left, into: &out)
        writeNext(c.odue, into: &out)
        writeNext(c.odid, into: &out)
        writeNext(c.flags, into: &out)
        out.append(UInt8(ascii: ","))
        JSON.write(.string(c.data), into: &out)
        out.append(UInt8(ascii: "]"))
    }

    static func writeNote(_ n: SyncNote, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        writeInt(n.id, into: &out)
        out.append(UInt8(ascii: ","))
        JSON.write(.string(n.guid), into: &out)
        writeNext(n.mid, into: &out)
        writeNext(n.mod, into: &out)
        writeNext(n.usn, into: &out)
        out.append(UInt8(ascii: ","))
        JSON.write(.string(n.tags), into: &out)
        out.append(UInt8(ascii: ","))
        JSON.write(.string(n.flds), into: &out)
        out += Array(#","","",0,""]"#.utf8)
    }

    // MARK: sanity

    /// `[[new, learn, review], cards, notes, revlog, graves, models, decks, deck_config]`.
    static func sanityCounts(_ v: JSONValue?, _ what: @autoclosure () -> String) throws -> (due: [Int64], counts: SanityCounts) {
        let a = try array(v, what())
        guard a.count == 8 else { throw fail("\(what()): expected 8 elements, got \(a.count)") }
        let dueValues = try array(a[0], "\(what())[0]")
        guard dueValues.count == 3 else { throw fail("\(what())[0]: expected 3 due counts") }
        let due = try dueValues.enumerated().map { try int($1, "\(what())[0][\($0)]", u32) }
        let n = try (1...7).map { try int(a[$0], "\(what())[\($0)]", u32) }
        return (due, SanityCounts(cards: n[0], notes: n[1], revlog: n[2], graves: n[3], notetypes: n[4], decks: n[5], deckConfig: n[6]))
    }

    static func writeCounts(due: [Int64], _ c: SanityCounts, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        writeIds(due, into: &out)
        for v in [c.cards, c.notes, c.revlog, c.graves, c.notetypes, c.decks, c.deckConfig] {
            out.append(UInt8(ascii: ","))
            writeInt(v, into: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    // MARK: config values

    /// Object keys sorted by their UTF-8 bytes at every level (how the reference re-serialises).
    static func sortedKeys(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let o):
            let entries = o.entries
                .map { (key: $0.key, value: sortedKeys($0.value)) }
                .sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }
            return .object(JSONObject(entries.map { ($0.key, $0.value) }))
        case .array(let a):
            return .array(a.map(sortedKeys))
        default:
            return v
        }
    }
}
