import FoundationEssentials
import Shared
import Storage

/// Hidden maintenance flags for the worker binary, used by tests and operators.
/// `main.swift` calls `run` first; a nil result means "not a dev command, carry on".
enum DevCommands {
    static func run(_ args: [String]) -> Int32? {
        guard args.count >= 2 else { return nil }
        switch args[1] {
        case "--unicase-sort":
            return unicaseSort()
        case "--unicase-compare":  // lines "a<TAB>b" -> -1, 0 or 1
            return unicaseCompare()
        case "--create-collection":
            guard args.count >= 3 else { return usage("--create-collection PATH") }
            do {
                let now = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
                try Collection.createNew(atPath: args[2], nowMillis: now)
                return 0
            } catch {
                printError("create-collection failed: \(error)")
                return 1
            }
        case "--validate-collection":
            guard args.count >= 3 else { return usage("--validate-collection PATH") }
            do {
                try Collection.validateUpload(atPath: args[2])
                print("ok")
                return 0
            } catch {
                print("\(error)")
                return 1
            }
        case "--sandbox-selftest":
            return SandboxSelfTest.run(Array(args.dropFirst(2)))
        case "--codec":  // stdin: JSON array; stdout: JSON array (one result or {"error"} per item)
            guard args.count >= 3 else { return usage("--codec encode-|decode-notetype|deck|deckconfig") }
            return CodecCommand.run(args[2])
        default:
            return nil
        }
    }

    private static func usage(_ text: String) -> Int32 {
        printError("usage: anki-sync-worker \(text)")
        return 2
    }

    private static func printError(_ text: String) {
        try? FileDescriptorIO.writeAll(2, Array((text + "\n").utf8))
    }

    /// Reads stdin as lines of raw bytes (split on LF only; a final LF does not add an empty line).
    /// Bytes are passed to the collation untouched, exactly as SQLite would pass stored text.
    private static func readLines() -> [[UInt8]] {
        let data = (try? FileDescriptorIO.readToEnd(0)) ?? []
        var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { Array($0) }
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    private static func compare(_ a: [UInt8], _ b: [UInt8]) -> Int32 {
        a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in Unicase.compare(pa, pb) } }
    }

    private static func unicaseSort() -> Int32 {
        // Stable: ties keep input order.
        let sorted = readLines().enumerated().sorted { l, r in
            let c = compare(l.element, r.element)
            return c != 0 ? c < 0 : l.offset < r.offset
        }
        var out: [UInt8] = []
        for line in sorted { out += line.element; out.append(0x0A) }
        try? FileDescriptorIO.writeAll(1, out)
        return 0
    }

    private static func unicaseCompare() -> Int32 {
        var out = ""
        for line in readLines() {
            let parts = line.split(separator: 0x09, maxSplits: 1, omittingEmptySubsequences: false)
            let a = Array(parts[0]), b = parts.count > 1 ? Array(parts[1]) : []
            let c = compare(a, b)
            out += c < 0 ? "-1\n" : (c > 0 ? "1\n" : "0\n")
        }
        try? FileDescriptorIO.writeAll(1, Array(out.utf8))
        return 0
    }
}

// MARK: - --codec (golden tests against the anki package)

/// `anki-sync-worker --codec MODE`: the schema-11 JSON ⇄ row converters over stdin/stdout, for
/// the golden tests against the `anki` package.
///
/// encode-notetype|encode-deck|encode-deckconfig: stdin is a JSON array of schema-11 objects;
/// stdout a JSON array of rows (blobs as lowercase hex, names native).
/// decode-…: the reverse. A failing item yields `{"error": "…"}` in its place.
enum CodecCommand {
    static func run(_ mode: String) -> Int32 {
        let input = (try? FileDescriptorIO.readToEnd(0)) ?? []
        let items: [JSONValue]
        do {
            guard case .array(let a) = try JSON.parse(input) else {
                try? FileDescriptorIO.writeAll(2, Array("codec: stdin must be a JSON array\n".utf8))
                return 2
            }
            items = a
        } catch {
            try? FileDescriptorIO.writeAll(2, Array("codec: \(error)\n".utf8))
            return 2
        }
        let convert: (JSONValue) throws -> JSONValue
        switch mode {
        case "encode-notetype": convert = { notetypeRowJSON(try NotetypeCodec.row(fromSchema11: $0)) }
        case "encode-deck": convert = { deckRowJSON(try DeckCodec.row(fromSchema11: $0)) }
        case "encode-deckconfig": convert = { deckConfigRowJSON(try DeckConfigCodec.row(fromSchema11: $0)) }
        case "decode-notetype": convert = { try NotetypeCodec.schema11(from: try notetypeRow($0)) }
        case "decode-deck": convert = { try DeckCodec.schema11(from: try deckRow($0)) }
        case "decode-deckconfig": convert = { try DeckConfigCodec.schema11(from: try deckConfigRow($0)) }
        case "roundtrip-json": convert = { $0 }
        default:
            try? FileDescriptorIO.writeAll(2, Array("codec: unknown mode \(mode)\n".utf8))
            return 2
        }
        let results: [JSONValue] = items.map { item in
            do { return try convert(item) } catch {
                return .object(JSONObject([("error", .string("\(error)"))]))
            }
        }
        var out = JSON.serialize(.array(results))
        out.append(0x0a)
        try? FileDescriptorIO.writeAll(1, out)
        return 0
    }

    // MARK: Row ⇄ JSON (test format)

    static func hex(_ b: [UInt8]) -> JSONValue {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(b.count * 2)
        for x in b { out.append(digits[Int(x >> 4)]); out.append(digits[Int(x & 15)]) }
        return .string(String(decoding: out, as: UTF8.self))
    }

    static func unhex(_ v: JSONValue?) throws -> [UInt8] {
        guard let s = v?.string else { throw CodecError("expected a hex string") }
        let u = Array(s.utf8)
        guard u.count % 2 == 0 else { throw CodecError("odd hex length") }
        func nibble(_ c: UInt8) throws -> UInt8 {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x61...0x66: return c - 0x61 + 10
            case 0x41...0x46: return c - 0x41 + 10
            default: throw CodecError("bad hex digit")
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(u.count / 2)
        var i = 0
        while i < u.count { out.append(try nibble(u[i]) << 4 | nibble(u[i + 1])); i += 2 }
        return out
    }

    static func int(_ v: JSONValue?, _ key: String) throws -> Int64 {
        guard case .int(let i)? = v else { throw CodecError("row: missing integer `\(key)`") }
        return i
    }

    static func str(_ v: JSONValue?, _ key: String) throws -> String {
        guard case .string(let s)? = v else { throw CodecError("row: missing string `\(key)`") }
        return s
    }

    static func notetypeRowJSON(_ r: NotetypeRow) -> JSONValue {
        .object(JSONObject([
            ("id", .int(r.id)), ("name", .string(r.name)), ("mtime_secs", .int(r.mtimeSecs)), ("usn", .int(r.usn)),
            ("config", hex(r.config)),
            ("fields", .array(r.fields.map { f in
                .object(JSONObject([("ord", .int(f.ord)), ("name", .string(f.name)), ("config", hex(f.config))]))
            })),
            ("templates", .array(r.templates.map { t in
                .object(JSONObject([
                    ("ord", .int(t.ord)), ("name", .string(t.name)), ("mtime_secs", .int(t.mtimeSecs)),
                    ("usn", .int(t.usn)), ("config", hex(t.config)),
                ]))
            })),
        ]))
    }

    static func notetypeRow(_ v: JSONValue) throws -> NotetypeRow {
        let fields = try (v["fields"]?.array ?? []).map { f in
            FieldRow(ord: try int(f["ord"], "ord"), name: try str(f["name"], "name"), config: try unhex(f["config"]))
        }
        let templates = try (v["templates"]?.array ?? []).map { t in
            TemplateRow(ord: try int(t["ord"], "ord"), name: try str(t["name"], "name"),
                        mtimeSecs: try int(t["mtime_secs"], "mtime_secs"), usn: try int(t["usn"], "usn"),
                        config: try unhex(t["config"]))
        }
        return NotetypeRow(id: try int(v["id"], "id"), name: try str(v["name"], "name"),
                           mtimeSecs: try int(v["mtime_secs"], "mtime_secs"), usn: try int(v["usn"], "usn"),
                           config: try unhex(v["config"]), fields: fields, templates: templates)
    }

    static func deckRowJSON(_ r: DeckRow) -> JSONValue {
        .object(JSONObject([
            ("id", .int(r.id)), ("name", .string(r.name)), ("mtime_secs", .int(r.mtimeSecs)), ("usn", .int(r.usn)),
            ("common", hex(r.common)), ("kind", hex(r.kind)),
        ]))
    }

    static func deckRow(_ v: JSONValue) throws -> DeckRow {
        DeckRow(id: try int(v["id"], "id"), name: try str(v["name"], "name"),
                mtimeSecs: try int(v["mtime_secs"], "mtime_secs"), usn: try int(v["usn"], "usn"),
                common: try unhex(v["common"]), kind: try unhex(v["kind"]))
    }

    static func deckConfigRowJSON(_ r: DeckConfigRow) -> JSONValue {
        .object(JSONObject([
            ("id", .int(r.id)), ("name", .string(r.name)), ("mtime_secs", .int(r.mtimeSecs)), ("usn", .int(r.usn)),
            ("config", hex(r.config)),
        ]))
    }

    static func deckConfigRow(_ v: JSONValue) throws -> DeckConfigRow {
        DeckConfigRow(id: try int(v["id"], "id"), name: try str(v["name"], "name"),
                      mtimeSecs: try int(v["mtime_secs"], "mtime_secs"), usn: try int(v["usn"], "usn"),
                      config: try unhex(v["config"]))
    }
}
