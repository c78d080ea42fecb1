import Glibc

/// A sandbox layer that could not be set up: which step, and the kernel's errno.
struct SandboxError: Error, CustomStringConvertible {
    let step: String
    let code: Int32

    var description: String { "\(step): \(String(cString: strerror(code))) (errno \(code))" }
}
