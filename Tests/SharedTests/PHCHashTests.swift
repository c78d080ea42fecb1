import Foundation
import XCTest
@testable import Shared

/// Known-answer vectors computed with Python's hashlib.pbkdf2_hmac (external reference values).
final class PHCHashTests: XCTestCase {
    static let alice = "$pbkdf2-sha256$i=600000,l=32$tonuvYGpksNFQBlEmm3lxg$xeYya/aDm+S3aEALiJqNbRzOf0r9WEUJYO0bmVGjamo"
    /// (password, PHC string), 1000 rounds, random salts.
    static let vectors: [(String, String)] = [
        ("correct horse", "$pbkdf2-sha256$i=1000,l=32$l/B8o0vEh34OrHt6memEYg$InzxSG3eSPSy+opeUARXDRkfp4rQTQ+0umIjzjHaZ4U"),
        ("correct horse", "$pbkdf2-sha512$i=1000,l=64$j+O4Un+RVkFRM5sgaKDWnA$J0ajEyY+bDLWOVPDJpAZTEssYjMZHox7d9uTr6l1D41eLSwixje3E9zDSo7PGQ54+MvICcKkCtB9V22uNZKAgQ"),
        ("p\u{E4}ssw\u{F6}rd:with:colons", "$pbkdf2-sha256$i=1000,l=20$3PjW1L3qP6s7AXox2CvoZg$sfkuGZxlavwWyKS6vvgBfy8hZnI"),
        ("x", "$pbkdf2-sha512$i=1000,l=32$mUXdkw42m2EHjAI6xTk9CQ$ngpeGV5GUEiomtD4BxMWcuiVjRU//3CSL1zoHWtHX0k"),
    ]

    func parse(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> PHCHash? {
        do { return try PHCHash(parsing: text) } catch {
            XCTFail("refused \(text): \(error)", file: file, line: line)
            return nil
        }
    }

    func assertRejected(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        do {
            let h = try PHCHash(parsing: text)
            XCTFail("accepted \(text) as \(h)", file: file, line: line)
        } catch {
            XCTAssertFalse(error.description.isEmpty, file: file, line: line)
        }
    }

    func testParseFields() throws {
        let h = try XCTUnwrap(parse(Self.alice))
        XCTAssertEqual(h.algorithm, .sha256)
        XCTAssertEqual(h.rounds, 600_000)
        XCTAssertEqual(h.salt, hexBytes("b689eebd81a992c345401944 9a6de5c6"))
        XCTAssertEqual(h.hash.count, 32)
        XCTAssertEqual(Array(h.hash.prefix(4)), [0xc5, 0xe6, 0x32, 0x6b])

        let h512 = try XCTUnwrap(parse(Self.vectors[1].1))
        XCTAssertEqual(h512.algorithm, .sha512)
        XCTAssertEqual(h512.rounds, 1000)
        XCTAssertEqual(h512.salt.count, 16)
        XCTAssertEqual(h512.hash.count, 64)
    }

    func testFormatRoundTrip() {
        for text in [Self.alice] + Self.vectors.map(\.1) {
            XCTAssertEqual(parse(text)?.phcString, text)
        }
    }

    func testFormatOfConstructedHash() {
        let h = PHCHash(algorithm: .sha512, rounds: 42, salt: [0, 1, 2, 3, 4], hash: Array(repeating: 0xff, count: 11))
        XCTAssertEqual(h.phcString, "$pbkdf2-sha512$i=42,l=11$AAECAwQ$//////////////8")
        XCTAssertEqual(parse(h.phcString), h)
    }

    func testVerifyOfficialVector() throws {
        let h = try XCTUnwrap(parse(Self.alice))
        XCTAssertTrue(h.verify("pw-alice"))
        XCTAssertFalse(h.verify("pw-alicE"))
        XCTAssertFalse(h.verify(""))
    }

    func testVerifyKnownAnswerVectors() throws {
        for (password, text) in Self.vectors {
            let h = try XCTUnwrap(parse(text))
            XCTAssertTrue(h.verify(password), text)
            XCTAssertFalse(h.verify(password + " "), text)
            XCTAssertFalse(h.verify(String(password.dropLast())), text)
        }
    }

    func testVerifyUsesDecodedSaltBytesNotText() throws {
        // Same hash but the salt decoded differently must not verify.
        let h = try XCTUnwrap(parse(Self.vectors[0].1))
        let wrongSalt = PHCHash(algorithm: h.algorithm, rounds: h.rounds, salt: Array("l/B8o0vEh34OrHt6memEYg".utf8), hash: h.hash)
        XCTAssertFalse(wrongSalt.verify(Self.vectors[0].0))
        let wrongRounds = PHCHash(algorithm: h.algorithm, rounds: 999, salt: h.salt, hash: h.hash)
        XCTAssertFalse(wrongRounds.verify(Self.vectors[0].0))
        let wrongAlgorithm = PHCHash(algorithm: .sha512, rounds: h.rounds, salt: h.salt, hash: h.hash)
        XCTAssertFalse(wrongAlgorithm.verify(Self.vectors[0].0))
    }

    func testPlaintextMatchesOfficialServer() {
        let h = PHCHash.plaintext("pw-alice")
        XCTAssertEqual(h.phcString, Self.alice)
        XCTAssertEqual(h, parse(Self.alice))
        XCTAssertTrue(h.verify("pw-alice"))
        XCTAssertFalse(h.verify("pw-bob"))
    }

    func testOptionalLengthParameter() {
        // l= may be omitted; the hash length then decides.
        let h = parse("$pbkdf2-sha256$i=1000$l/B8o0vEh34OrHt6memEYg$InzxSG3eSPSy+opeUARXDRkfp4rQTQ+0umIjzjHaZ4U")
        XCTAssertEqual(h?.rounds, 1000)
        XCTAssertEqual(h?.verify("correct horse"), true)
    }

    func testRejections() {
        let salt = "l/B8o0vEh34OrHt6memEYg"
        let hash = "InzxSG3eSPSy+opeUARXDRkfp4rQTQ+0umIjzjHaZ4U"
        // PBKDF2-SHA1 and other algorithms.
        assertRejected("$pbkdf2$i=1000,l=32$\(salt)$\(hash)")
        assertRejected("$pbkdf2-sha1$i=1000,l=32$\(salt)$\(hash)")
        assertRejected("$argon2id$v=19$m=65536,t=3,p=4$\(salt)$\(hash)")
        assertRejected("$argon2id$m=65536,t=3,p=4$\(salt)$\(hash)")
        assertRejected("$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW")
        assertRejected("$PBKDF2-SHA256$i=1000,l=32$\(salt)$\(hash)")
        // Missing or extra parts.
        assertRejected("")
        assertRejected("plain-password")
        assertRejected("pbkdf2-sha256$i=1000,l=32$\(salt)$\(hash)")
        assertRejected("$pbkdf2-sha256$i=1000,l=32$\(salt)")
        assertRejected("$pbkdf2-sha256$\(salt)$\(hash)")
        assertRejected("$pbkdf2-sha256$i=1000,l=32$\(salt)$\(hash)$")
        assertRejected("$pbkdf2-sha256$i=1000,l=32$$\(hash)")
        assertRejected("$pbkdf2-sha256$i=1000,l=32$\(salt)$")
        // Padding is not part of PHC B64.
        assertRejected("$pbkdf2-sha256$i=1000,l=32$\(salt)==$\(hash)")
        assertRejected("$pbkdf2-sha256$i=1000,l=32$\(salt)$\(hash)=")
        // Characters outside the alphabet.
        assertRejected("$pbkdf2-sha256$i=1000,l=32$\(salt)$\(hash.dropLast())*")
        assertRejected("$pbkdf2-sha256$i=1000,l=32$l.B8o0vEh34OrHt6memEYg$\(hash)")
        // Length mismatch.
        assertRejected("$pbkdf2-sha256$i=1000,l=31$\(salt)$\(hash)")
        assertRejected("$pbkdf2-sha256$i=1000,l=64$\(salt)$\(hash)")
        // Bad rounds and parameters.
        assertRejected("$pbkdf2-sha256$i=0,l=32$\(salt)$\(hash)")
        assertRejected("$pbkdf2-sha256$i=-5,l=32$\(salt)$\(hash)")
        assertRejected("$pbkdf2-sha256$i=abc,l=32$\(salt)$\(hash)")
        assertRejected("$pbkdf2-sha256$i=,l=32$\(salt)$\(hash)")
        assertRejected("$pbkdf2-sha256$l=32$\(salt)$\(hash)")
        assertRejected("$pbkdf2-sha256$i=10000001,l=32$\(salt)$\(hash)")
        assertRejected("$pbkdf2-sha256$i=1000,l=32,x=1$\(salt)$\(hash)")
        assertRejected("$pbkdf2-sha256$i=1000,l=0$\(salt)$\(hash)")
        // Salt and hash sizes.
        assertRejected("$pbkdf2-sha256$i=1000$AAEC$\(hash)") // 3-byte salt
        assertRejected("$pbkdf2-sha256$i=1000$\(salt)$AAECAwQFBgcI") // 9-byte hash
        assertRejected("$pbkdf2-sha512$i=1000$\(salt)$\(String(repeating: "A", count: 88))") // 66-byte hash
    }
}
