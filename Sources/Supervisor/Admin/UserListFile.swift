import Shared

/// The users of an env file as `user …` edits them: every line kept as written except the
/// `SYNC_USERn` lines, which are written back as one numbered block (contiguous from 1, as the
/// server reads them) where the first of them stood; `PASSWORDS_HASHED=1` is added before the
/// block when needed. Values are written unquoted: systemd, Docker's --env-file and the official
/// server's own loaders all read `SYNC_USER1=name:$pbkdf2-…` the same way.
struct UserListFile {
    struct Entry: Equatable {
        var name: String
        var secret: String
    }

    private(set) var lines: [String]
    var users: [Entry]
    var hashed: Bool

    init(text: String, path: String) throws(AdminError) {
        lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
        if lines.last == "" { lines.removeLast() }
        let env: [String: String]
        do { env = try EnvironmentFile.parse(text) } catch { throw AdminError("\(path): \(error); fix that line first") }
        hashed = env["PASSWORDS_HASHED"] != nil
        users = []
        var n = 1
        while let raw = env["SYNC_USER\(n)"] {
            guard let colon = raw.firstIndex(of: ":") else { throw AdminError("\(path): SYNC_USER\(n) has no ':'; fix it first") }
            users.append(Entry(name: String(raw[..<colon]), secret: String(raw[raw.index(after: colon)...])))
            n += 1
        }
        for key in env.keys {
            if let k = UserListFile.userNumber(key), k >= n {
                throw AdminError("\(path): \(key) is ignored by the server because SYNC_USER\(n) is missing; renumber the entries first")
            }
        }
    }

    /// n for a `SYNC_USERn` variable name the server reads (n ≥ 1 without leading zeros).
    static func userNumber(_ key: String) -> Int? {
        guard key.hasPrefix("SYNC_USER") else { return nil }
        let digits = key.dropFirst("SYNC_USER".count)
        guard digits.first != "0", digits.allSatisfy(\.isASCII), let n = Int(digits), n >= 1 else { return nil }
        return n
    }

    private static func key(ofLine line: String) -> String? {
        (try? EnvironmentFile.parse(line))?.keys.first
    }

    /// The file's new text.
    func rendered() -> String {
        var out: [String] = []
        var block = users.enumerated().map { "SYNC_USER\($0.offset + 1)=\($0.element.name):\($0.element.secret)" }
        let hasHashedLine = lines.contains { UserListFile.key(ofLine: $0) == "PASSWORDS_HASHED" }
        if hashed && !hasHashedLine { block.insert("PASSWORDS_HASHED=1", at: 0) }
        var placed = false
        for line in lines {
            if let key = UserListFile.key(ofLine: line), UserListFile.userNumber(key) != nil {
                if !placed { out += block }
                placed = true
                continue
            }
            out.append(line)
        }
        if !placed { out += block }
        return out.map { $0 + "\n" }.joined()
    }

    /// Names become env-file values and folder names: refuse what any loader could misread.
    static func checkNewName(_ name: String) throws(AdminError) {
        do { try ServerConfig.validateUserName(name, variable: "user name") } catch { throw AdminError("\(error)") }
        let awkward: Set<Character> = ["\"", "'", "\\", "$", "#", ";", ":", "`"]
        if name.contains(where: { $0.isWhitespace || awkward.contains($0) }) {
            throw AdminError("user name '\(name)' has spaces, quotes or one of \\ $ # ; : `; choose a plainer name")
        }
    }
}
