import Foundation
import Storage

/// Hidden maintenance flags for the worker binary, used by tests and operators.
/// `main.swift` calls `run` first; a nil result means "not a dev command, carry on".
enum DevCommands {
    static func run(_ args: [String]) -> Int32? {
        guard args.count >= 2 else { return nil }
        switch args[1] {
        case "--unicase-sort":
            return unicaseSort()
        case "--unicase-compare":  // lines "a<TAB>b" -> -1, 0 or 1
            return unicaseCompare()
        case "--create-collection":
            guard args.count >= 3 else { return usage("--create-collection PATH") }
            do {
                let now = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
                try Collection.createNew(atPath: args[2], nowMillis: now)
                return 0
            } catch {
                printError("create-collection failed: \(error)")
                return 1
            }
        case "--validate-collection":
            guard args.count >= 3 else { return usage("--validate-collection PATH") }
            do {
                try Collection.validateUpload(atPath: args[2])
                print("ok")
                return 0
            } catch {
                print("\(error)")
                return 1
            }
        default:
            return nil
        }
    }

    private static func usage(_ text: String) -> Int32 {
        printError("usage: anki-sync-worker \(text)")
        return 2
    }

    private static func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Reads stdin as lines of raw bytes (split on LF only; a final LF does not add an empty line).
    /// Bytes are passed to the collation untouched, exactly as SQLite would pass stored text.
    private static func readLines() -> [[UInt8]] {
        let data = [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { Array($0) }
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    private static func compare(_ a: [UInt8], _ b: [UInt8]) -> Int32 {
        a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in Unicase.compare(pa, pb) } }
    }

    private static func unicaseSort() -> Int32 {
        // Stable: ties keep input order.
        let sorted = readLines().enumerated().sorted { l, r in
            let c = compare(l.element, r.element)
            return c != 0 ? c < 0 : l.offset < r.offset
        }
        var out: [UInt8] = []
        for line in sorted { out += line.element; out.append(0x0A) }
        FileHandle.standardOutput.write(Data(out))
        return 0
    }

    private static func unicaseCompare() -> Int32 {
        var out = ""
        for line in readLines() {
            let parts = line.split(separator: 0x09, maxSplits: 1, omittingEmptySubsequences: false)
            let a = Array(parts[0]), b = parts.count > 1 ? Array(parts[1]) : []
            let c = compare(a, b)
            out += c < 0 ? "-1\n" : (c > 0 ? "1\n" : "0\n")
        }
        FileHandle.standardOutput.write(Data(out.utf8))
        return 0
    }
}
