import Crypto

/// The official server's bearer key: lowercase hex SHA-1 of the whole `user:secret` entry, so a device
/// logged in to an official server stays logged in here. It changes only when the secret changes.
public enum HostKey {
    public static func derive(entry: String) -> String {
        Hex.encode(Insecure.SHA1.hash(data: Array(entry.utf8)))
    }
}

public enum Hex {
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
