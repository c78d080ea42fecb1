import CShim
import Glibc

/// Landlock: the worker's file-system rules (read/write beneath its folder, nothing else), and
/// with newer kernels no TCP bind/connect (ABI 4) and no signals or abstract unix sockets
/// outside its own domain (ABI 6).
enum Landlock {
    /// The ABI the kernel offers, 0 without Landlock.
    static func availableABI() -> Int { Int(cshim_landlock_abi()) }

    /// Restricts the calling thread, and the threads it starts from now on, to `folders`.
    static func restrict(to folders: [String], abi: Int) throws(SandboxError) {
        let copies = folders.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        var pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) }
        var step: UnsafePointer<CChar>?
        let rc = cshim_landlock_restrict(&pointers, Int32(pointers.count), Int32(abi), &step)
        guard rc == 0 else { throw SandboxError(step: step.map { String(cString: $0) } ?? "landlock", code: rc) }
    }
}
