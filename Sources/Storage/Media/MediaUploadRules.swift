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
    /// Longest file name, in UTF-8 bytes.
    public static let maxNameBytes = 255
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
        if Array(name.nfc.utf8) != bytes {
            return "file name \(quoted(name)) is not in Unicode NFC form"
        }
        return nil
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
            if let problem = MediaNames.problem(with: name) { throw MediaUploadError(problem) }
            let member = pair[1].flatMap { $0.isEmpty ? nil : $0 }
            return MediaManifestEntry(name: name, member: member)
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
