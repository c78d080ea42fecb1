import Crypto
import FoundationEssentials

/// The limits and name rules of media sync (MEDIA.md §3.3, §6), shared by validation and tests.
public enum MediaLimits {
    /// Entries per upload `_meta` and names per download request.
    public static let maxEntriesPerZip = 25
    /// Largest media file, inclusive.
    public static let maxFileBytes = 100 * 1024 * 1024
    /// A download zip stops after the file that takes its total past this.
    public static let downloadTargetBytes = 2_621_440
    /// `_meta` of an upload is read up to this many bytes.
    public static let maxManifestBytes = 51_200
    /// Longest file name, in UTF-8 bytes (names of deletes; new files must also fit `maxNewNameBytes`).
    public static let maxNameBytes = 255
    /// Longest name of a new or replaced file: the client cuts longer names (MEDIA.md 6.3 rule 6).
    public static let maxNewNameBytes = 120
    /// Members of an upload zip: one per entry plus `_meta`.
    public static let maxUploadMembers = maxEntriesPerZip + 1
    /// What the members of one upload may inflate to in all: the client's fill target plus one
    /// largest file (MEDIA.md 5.2 step 3). Checked against the declared sizes before any byte is
    /// written, and each member may not inflate past its declared size.
    public static let maxUploadInflatedBytes = downloadTargetBytes + maxFileBytes
}

/// Why an upload was refused (always a client error: 400).
public struct MediaUploadError: Error, CustomStringConvertible, Equatable, Sendable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

public enum MediaNames {
    /// Nil if `name` may be stored as a media file name on this server, else the reason it may not:
    /// non-empty, not `.` or `..`, at most 255 UTF-8 bytes, in Unicode NFC (byte-exact), and free of
    /// `/`, `\` and NUL. The name is never rewritten: clients key files on its exact bytes.
    public static func problem(with name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.isEmpty { return "empty file name" }
        if name == "." || name == ".." { return "file name \(quoted(name)) is not allowed" }
        if bytes.count > MediaLimits.maxNameBytes {
            return "file name \(quoted(name)) is \(bytes.count) bytes long; the limit is \(MediaLimits.maxNameBytes)"
        }
        if bytes.contains(0) { return "file name \(quoted(name)) contains a NUL character" }
        if bytes.contains(UInt8(ascii: "/")) || bytes.contains(UInt8(ascii: "\\")) {
            return "file name \(quoted(name)) contains a path separator"
        }
        // Compare bytes: Swift's == on strings treats canonically equivalent forms as equal.
        // ASCII is always NFC: skip the normalisation for it (most names).
        if !bytes.allSatisfy({ $0 < 0x80 }) && Array(name.nfc.utf8) != bytes {
            return "file name \(quoted(name)) is not in Unicode NFC form"
        }
        return nil
    }

    /// Nil if a new file may be called `name`, else why not: on top of `problem(with:)`, the
    /// client's own normalisation (MEDIA.md 6.3) must leave the name unchanged, since a client
    /// ignores or renames such a file and every device of the account then churns on it.
    public static func newFileProblem(with name: String) -> String? {
        if let problem = problem(with: name) { return problem }
        var shown: String { quoted(name) }     // only for a refusal
        for scalar in name.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F { return "file name \(shown) contains a control character" }
            if forbidden.contains(scalar) { return "file name \(shown) contains \"\(scalar)\", which Anki clients remove" }
            if scalar.isASCII { continue }     // printable ASCII: assigned since Unicode 1.1
            if !assignedForClients(scalar) {
                return "file name \(shown) contains U+\(String(scalar.value, radix: 16, uppercase: true)), unassigned in the Unicode 10.0 tables of Anki clients"
            }
            if scalar == "\u{A0}" { return "file name \(shown) contains a no-break space, which Anki clients replace" }
        }
        if let last = name.unicodeScalars.last, last == " " || last == "." {
            return "file name \(shown) ends in a space or a dot, which Anki clients change"
        }
        if isWindowsDeviceName(name) { return "file name \(shown) is a Windows device name, which Anki clients change" }
        if name.utf8.count > MediaLimits.maxNewNameBytes {
            return "file name \(shown) is \(name.utf8.count) bytes long; Anki clients cut names to \(MediaLimits.maxNewNameBytes)"
        }
        return nil
    }

    /// Whether the client's Unicode tables (Unicode 10.0) know the scalar: it strips the rest as
    /// unassigned, newer emoji included (checked with the real client: U+1F92A is kept, U+1F970
    /// from Unicode 11 is removed).
    static func assignedForClients(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.properties.generalCategory != .unassigned, let age = scalar.properties.age else { return false }
        return age.major < 10 || (age.major == 10 && age.minor == 0)
    }

    /// Characters the client strips from media names (MEDIA.md 6.3 rule 2).
    static let forbidden: Set<Unicode.Scalar> = ["[", "]", "<", ">", ":", "\"", "/", "?", "*", "^", "\\", "|"]

    /// `CON`, `PRN`, `AUX`, `NUL`, `COM1`–`COM9`, `LPT1`–`LPT9` in any case, alone or before a `.`.
    static func isWindowsDeviceName(_ name: String) -> Bool {
        let stem = name.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)[0].uppercased()
        if ["CON", "PRN", "AUX", "NUL"].contains(stem) { return true }
        guard stem.count == 4, stem.hasPrefix("COM") || stem.hasPrefix("LPT"), let digit = stem.last else { return false }
        return ("1"..."9").contains(digit)
    }

    static func quoted(_ name: String) -> String {
        var out = "\""
        for scalar in name.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F { out += "\\u{\(String(scalar.value, radix: 16))}" } else { out.unicodeScalars.append(scalar) }
        }
        return out + "\""
    }
}

/// One entry of an upload's `_meta`: a file to add or replace from a zip member, or to delete.
public struct MediaManifestEntry: Equatable, Sendable {
    public var name: String
    /// The zip member holding the new content; nil for a delete.
    public var member: String?

    public init(name: String, member: String?) {
        self.name = name
        self.member = member
    }
}

public enum MediaManifest {
    /// Parses an upload's `_meta`: a JSON array of `[name, member]` pairs, where a `null` or `""`
    /// member means delete. Checks the entry count and every name; throws `MediaUploadError`.
    /// Entries apply in order (a name may appear twice, as with the official server). A new file's
    /// name must pass `MediaNames.newFileProblem(with:)`; a delete's only `problem(with:)`, since
    /// clients delete names a more lenient server once sent them (MEDIA.md 6.5).
    public static func parse(_ json: [UInt8]) throws -> [MediaManifestEntry] {
        let raw: [[String?]]
        do {
            raw = try JSONDecoder().decode([[String?]].self, from: Data(json))
        } catch {
            throw MediaUploadError("_meta is not a JSON array of [file name, zip member or null] pairs")
        }
        guard raw.count <= MediaLimits.maxEntriesPerZip else {
            throw MediaUploadError("_meta lists \(raw.count) entries; at most \(MediaLimits.maxEntriesPerZip) are allowed per upload")
        }
        return try raw.enumerated().map { index, pair in
            guard pair.count == 2 else { throw MediaUploadError("_meta entry \(index) has \(pair.count) fields instead of 2") }
            guard let name = pair[0] else { throw MediaUploadError("_meta entry \(index) has no file name") }
            let member = pair[1].flatMap { $0.isEmpty ? nil : $0 }
            let problem = member == nil ? MediaNames.problem(with: name) : MediaNames.newFileProblem(with: name)
            if let problem { throw MediaUploadError(problem) }
            return MediaManifestEntry(name: name, member: member)
        }
    }

    /// Checks an upload zip against the budgets before anything is written: the member count and
    /// the sum of the sizes the entries' members declare, a member counted each time it is used
    /// (the reader refuses a member that inflates past its declared size, so this sum bounds what
    /// is written).
    public static func checkBudget(memberCount: Int, declaredSizes: [Int]) throws {
        guard memberCount <= MediaLimits.maxUploadMembers else {
            throw MediaUploadError("the zip holds \(memberCount) members; at most \(MediaLimits.maxUploadMembers) (\(MediaLimits.maxEntriesPerZip) files and _meta) are allowed per upload")
        }
        let total = declaredSizes.reduce(0) { $0 + max($1, 0) }
        guard total <= MediaLimits.maxUploadInflatedBytes else {
            throw MediaUploadError("the zip's files inflate to \(total) bytes; at most \(MediaLimits.maxUploadInflatedBytes) are allowed per upload")
        }
    }
}

/// SHA-1 of media content, computed by the server as the bytes go by.
public struct MediaHasher {
    private var hasher = Insecure.SHA1()

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }

    /// The raw 20-byte digest.
    public func finalize() -> [UInt8] { Array(hasher.finalize()) }

    public static func sha1(_ bytes: [UInt8]) -> [UInt8] {
        var h = MediaHasher()
        bytes.withUnsafeBytes { h.update($0) }
        return h.finalize()
    }

    public static func hex(_ digest: [UInt8]) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(digest.count * 2)
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
