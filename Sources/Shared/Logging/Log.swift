import FoundationEssentials
import Glibc

/// Line-oriented logger writing to standard error, as text or JSON (SYNC_LOG_FORMAT).
/// Each line is one write(2), so lines from threads and processes never interleave.
public struct Log: Sendable {
    public let format: LogFormat
    /// Who is speaking: "supervisor" or "worker:<user>".
    public let process: String

    public init(format: LogFormat, process: String) {
        self.format = format
        self.process = process
    }

    public enum Level: String, Sendable { case info, warn, error }

    public func info(_ event: String, _ fields: KeyValuePairs<String, LogValue> = [:]) { emit(.info, event, fields) }
    public func warn(_ event: String, _ fields: KeyValuePairs<String, LogValue> = [:]) { emit(.warn, event, fields) }
    public func error(_ event: String, _ fields: KeyValuePairs<String, LogValue> = [:]) { emit(.error, event, fields) }

    func emit(_ level: Level, _ event: String, _ fields: KeyValuePairs<String, LogValue>) {
        let line = render(level, event, fields, timestamp: Log.timestamp())
        var bytes = Array(line.utf8)
        bytes.append(10)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    func render(_ level: Level, _ event: String, _ fields: KeyValuePairs<String, LogValue>, timestamp: String) -> String {
        switch format {
        case .text:
            var s = "\(timestamp) \(level.rawValue.uppercased()) \(process) \(event)"
            for (k, v) in fields { s += " \(k)=\(v.textForm)" }
            return s
        case .json:
            var s = "{\"ts\":\(LogValue.string(timestamp).jsonForm),\"level\":\"\(level.rawValue)\",\"proc\":\(LogValue.string(process).jsonForm),\"event\":\(LogValue.string(event).jsonForm)"
            for (k, v) in fields { s += ",\(LogValue.string(k).jsonForm):\(v.jsonForm)" }
            return s + "}"
        }
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var parts = tm()
        gmtime_r(&t, &parts)
        let ms = ts.tv_nsec / 1_000_000
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let msText = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(msText)Z"
    }
}

/// A value in a log line.
public enum LogValue: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case bool(Bool)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(Int64(value)) }
    public static func of(_ v: Int) -> LogValue { .int(Int64(v)) }
    public static func of(_ v: Int32) -> LogValue { .int(Int64(v)) }
    public static func of(_ v: Int64) -> LogValue { .int(v) }
    public static func of(_ v: String) -> LogValue { .string(v) }

    public var description: String { textForm }

    var textForm: String {
        switch self {
        case .int(let v): return String(v)
        case .bool(let v): return String(v)
        case .string(let s):
            if !s.isEmpty, !s.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.asciiValue.map { $0 < 32 } ?? false }) { return s }
            return LogValue.string(s).jsonForm
        }
    }

    var jsonForm: String {
        switch self {
        case .int(let v): return String(v)
        case .bool(let v): return String(v)
        case .string(let s):
            return String(decoding: JSON.serialize(.string(s)), as: UTF8.self)
        }
    }
}

/// Wall-clock helpers in the units the protocol uses.
public enum WallClock {
    public static func nowMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec / 1_000_000)
    }

    /// Monotonic seconds, for deadlines.
    public static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
