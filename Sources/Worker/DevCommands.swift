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
        case "--unicase-compare":
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

    /// Reads all of stdin as UTF-8 lines (a trailing newline does not produce an empty last line).
    private static func readLines() -> [String] {
        let data = FileHandle.standardInput.readDataToEndOfFile()
        let text = String(decoding: data, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    private static func compare(_ a: String, _ b: String) -> Int32 {
        let x = Array(a.utf8), y = Array(b.utf8)
        return x.withUnsafeBytes { pa in y.withUnsafeBytes { pb in Unicase.compare(pa, pb) } }
    }

    private static func unicaseSort() -> Int32 {
        // Stable: ties keep input order.
        let sorted = readLines().enumerated().sorted { l, r in
            let c = compare(l.element, r.element)
            return c != 0 ? c < 0 : l.offset < r.offset
        }
        var out = ""
        for line in sorted { out += line.element; out += "\n" }
        FileHandle.standardOutput.write(Data(out.utf8))
        return 0
    }

    private static func unicaseCompare() -> Int32 {
        var out = ""
        for line in readLines() {
            let parts = line.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            let a = String(parts[0]), b = parts.count > 1 ? String(parts[1]) : ""
            let c = compare(a, b)
            out += c < 0 ? "-1\n" : (c > 0 ? "1\n" : "0\n")
        }
        FileHandle.standardOutput.write(Data(out.utf8))
        return 0
    }
}
