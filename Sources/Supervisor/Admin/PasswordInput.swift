import Glibc
import Shared

/// Reads a password for `user add`, `user passwd` and `hash-password`: from the terminal without
/// echo (asked twice), or the first line of standard input when it is not a terminal. Never argv.
enum PasswordInput {
    static let maxBytes = 4096

    static func read(for what: String) throws(AdminError) -> String {
        if isatty(0) == 1 {
            let first = try prompt("Password for \(what): ")
            let again = try prompt("Again: ")
            guard first == again else { throw AdminError("the two passwords differ; nothing was changed") }
            return try checked(first)
        }
        return try checked(try line())
    }

    private static func checked(_ password: String) throws(AdminError) -> String {
        guard !password.isEmpty else { throw AdminError("empty password; nothing was changed") }
        return password
    }

    private static func prompt(_ text: String) throws(AdminError) -> String {
        let bytes = Array(text.utf8)
        _ = try? FileDescriptorIO.writeAll(2, bytes)
        var saved = termios()
        let canHide = tcgetattr(0, &saved) == 0
        if canHide {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            _ = tcsetattr(0, TCSAFLUSH, &quiet)
        }
        defer {
            if canHide { _ = tcsetattr(0, TCSAFLUSH, &saved) }
            _ = try? FileDescriptorIO.writeAll(2, [10])
        }
        return try line()
    }

    /// One line from standard input, without its line ending.
    private static func line() throws(AdminError) -> String {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while bytes.count <= maxBytes {
            let n = Glibc.read(0, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw AdminError("cannot read the password from standard input: \(String(cString: strerror(errno)))") }
            if n == 0 || byte == 10 { break }
            bytes.append(byte)
        }
        guard bytes.count <= maxBytes else { throw AdminError("password longer than \(maxBytes) bytes") }
        if bytes.last == 13 { bytes.removeLast() }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw AdminError("the password is not valid UTF-8") }
        return text
    }
}
