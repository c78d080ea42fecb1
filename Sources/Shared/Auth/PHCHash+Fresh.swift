extension PHCHash {
    /// Bytes of salt in a new hash (as the official server's PHC strings: 22 base64 characters).
    public static let freshSaltBytes = 16

    /// A new hash of `password` for an env file (`user add`, `hash-password`): a random salt and
    /// the official cost (PBKDF2-SHA256, 600,000 rounds, 32 bytes).
    public static func fresh(_ password: String) -> PHCHash {
        var rng = SystemRandomNumberGenerator()     // getrandom(2): suitable for salts
        let salt = (0..<freshSaltBytes).map { _ in UInt8.random(in: 0 ... .max, using: &rng) }
        let derived = derive(password: password, algorithm: .sha256, salt: salt, rounds: officialPlaintextRounds, length: 32)
        return PHCHash(algorithm: .sha256, rounds: officialPlaintextRounds, salt: salt, hash: derived)
    }
}
