import Crypto
import CryptoExtras
import FoundationEssentials

/// A PBKDF2 password hash in PHC string form: `$pbkdf2-sha256$i=600000,l=32$<salt>$<hash>`
/// (standard base64 alphabet without padding; the salt is used as its decoded bytes).
public struct PHCHash: Sendable, Equatable {
    public enum Algorithm: String, Sendable { case sha256 = "pbkdf2-sha256", sha512 = "pbkdf2-sha512" }
    public let algorithm: Algorithm
    public let rounds: Int
    public let salt: [UInt8]
    public let hash: [UInt8]

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The official server hashes plaintext passwords with this fixed salt and the library defaults.
    public static let officialPlaintextSalt = "tonuvYGpksNFQBlEmm3lxg"
    public static let officialPlaintextRounds = 600_000

    public init(algorithm: Algorithm, rounds: Int, salt: [UInt8], hash: [UInt8]) {
        self.algorithm = algorithm
        self.rounds = rounds
        self.salt = salt
        self.hash = hash
    }

    public init(parsing text: String) throws(ParseError) {
        let parts = text.split(separator: "$", omittingEmptySubsequences: false)
        // "", alg, params, salt, hash
        guard parts.count == 5, parts[0].isEmpty else { throw ParseError(description: "expected $alg$params$salt$hash") }
        guard let alg = Algorithm(rawValue: String(parts[1])) else {
            throw ParseError(description: "unsupported algorithm '\(parts[1])' (pbkdf2-sha256 or pbkdf2-sha512)")
        }
        var rounds: Int?
        var length: Int?
        for param in parts[2].split(separator: ",") {
            let kv = param.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let n = Int(kv[1]), n > 0 else { throw ParseError(description: "bad parameter '\(param)'") }
            switch kv[0] {
            case "i": rounds = n
            case "l": length = n
            default: throw ParseError(description: "unknown parameter '\(kv[0])'")
            }
        }
        guard let rounds, rounds >= 1, rounds <= 10_000_000 else { throw ParseError(description: "missing or out-of-range i=") }
        guard let salt = PHCHash.decodeB64(String(parts[3])), salt.count >= 4, salt.count <= 64 else {
            throw ParseError(description: "bad salt")
        }
        guard let hash = PHCHash.decodeB64(String(parts[4])), hash.count >= 10, hash.count <= 64 else {
            throw ParseError(description: "bad hash")
        }
        if let length, length != hash.count { throw ParseError(description: "l=\(length) does not match the hash length \(hash.count)") }
        self.init(algorithm: alg, rounds: rounds, salt: salt, hash: hash)
    }

    /// The hash the official server keeps for a plaintext password.
    public static func plaintext(_ password: String) -> PHCHash {
        let salt = decodeB64(officialPlaintextSalt)!
        let derived = derive(password: password, algorithm: .sha256, salt: salt, rounds: officialPlaintextRounds, length: 32)
        return PHCHash(algorithm: .sha256, rounds: officialPlaintextRounds, salt: salt, hash: derived)
    }

    /// Constant-time verification of a password against this hash.
    public func verify(_ password: String) -> Bool {
        let derived = PHCHash.derive(password: password, algorithm: algorithm, salt: salt, rounds: rounds, length: hash.count)
        guard derived.count == hash.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<hash.count { diff |= derived[i] ^ hash[i] }
        return diff == 0
    }

    public var phcString: String {
        "$\(algorithm.rawValue)$i=\(rounds),l=\(hash.count)$\(PHCHash.encodeB64(salt))$\(PHCHash.encodeB64(hash))"
    }

    static func derive(password: String, algorithm: Algorithm, salt: [UInt8], rounds: Int, length: Int) -> [UInt8] {
        let hf: KDF.Insecure.PBKDF2.HashFunction = algorithm == .sha256 ? .sha256 : .sha512
        guard let key = try? KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: salt, using: hf, outputByteCount: length, unsafeUncheckedRounds: rounds)
        else { return [] }
        return key.withUnsafeBytes { Array($0) }
    }

    static func decodeB64(_ text: String) -> [UInt8]? {
        guard !text.contains("=") else { return nil }
        var padded = text
        while padded.count % 4 != 0 { padded += "=" }
        return Data(base64Encoded: padded).map { Array($0) }
    }

    static func encodeB64(_ bytes: [UInt8]) -> String {
        var s = Data(bytes).base64EncodedString()
        while s.hasSuffix("=") { s.removeLast() }
        return s
    }
}
