import CShim
import Glibc

/// A failed system call, with errno and its text.
public struct SystemError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32

    public init(_ call: String, code: Int32 = cshim_errno()) {
        self.call = call
        self.code = code
    }

    public var description: String { "\(call): \(String(cString: strerror(code))) (errno \(code))" }
}
