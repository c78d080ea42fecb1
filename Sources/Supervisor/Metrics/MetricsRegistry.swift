/// Counters, gauges and histograms in the Prometheus text format (version 0.0.4). Label values
/// come only from bounded sets the server controls (configured users, fixed method names, status
/// codes it sends), never from client text. Single-threaded: the supervisor's loop owns it.
final class MetricsRegistry {
    enum Kind: String { case counter, gauge, histogram }

    struct Family {
        let name: String
        let help: String
        let kind: Kind
        let labels: [String]
        /// Histogram upper bounds (ascending), empty for other kinds.
        let buckets: [Double]
        var samples: [[String]: Sample] = [:]
    }

    struct Sample {
        var value = 0.0
        /// Histograms: cumulative counts per bucket (last = +Inf), and the sum.
        var bucketCounts: [UInt64] = []
        var sum = 0.0
    }

    private(set) var families: [String: Family] = [:]
    private var order: [String] = []

    func register(_ name: String, _ kind: Kind, help: String, labels: [String] = [], buckets: [Double] = []) {
        guard families[name] == nil else { return }
        families[name] = Family(name: name, help: help, kind: kind, labels: labels, buckets: buckets)
        order.append(name)
    }

    func add(_ name: String, _ labelValues: [String] = [], _ amount: Double = 1) {
        families[name]?.samples[labelValues, default: Sample()].value += amount
    }

    func set(_ name: String, _ labelValues: [String] = [], _ value: Double) {
        families[name]?.samples[labelValues, default: Sample()].value = value
    }

    /// Drops every sample of a gauge family before it is filled again (e.g. at scrape time).
    func reset(_ name: String) { families[name]?.samples = [:] }

    func observe(_ name: String, _ labelValues: [String] = [], _ value: Double) {
        guard let family = families[name], family.kind == .histogram else { return }
        var sample = family.samples[labelValues] ?? Sample(bucketCounts: Array(repeating: 0, count: family.buckets.count + 1))
        for (i, bound) in family.buckets.enumerated() where value <= bound { sample.bucketCounts[i] += 1 }
        sample.bucketCounts[family.buckets.count] += 1
        sample.sum += value
        families[name]?.samples[labelValues] = sample
    }

    func value(_ name: String, _ labelValues: [String] = []) -> Double? { families[name]?.samples[labelValues]?.value }

    func render() -> String {
        var out = ""
        for name in order {
            guard let family = families[name] else { continue }
            out += "# HELP \(name) \(Self.escapeHelp(family.help))\n# TYPE \(name) \(family.kind.rawValue)\n"
            for labels in family.samples.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                let sample = family.samples[labels]!
                let pairs = zip(family.labels, labels).map { "\($0)=\"\(Self.escapeLabel($1))\"" }
                if family.kind == .histogram {
                    for (i, bound) in family.buckets.enumerated() {
                        out += "\(name)_bucket{\((pairs + ["le=\"\(Self.number(bound))\""]).joined(separator: ","))} \(sample.bucketCounts[i])\n"
                    }
                    let total = sample.bucketCounts.last ?? 0
                    out += "\(name)_bucket{\((pairs + ["le=\"+Inf\""]).joined(separator: ","))} \(total)\n"
                    out += "\(name)_sum\(Self.braces(pairs)) \(Self.number(sample.sum))\n"
                    out += "\(name)_count\(Self.braces(pairs)) \(total)\n"
                } else {
                    out += "\(name)\(Self.braces(pairs)) \(Self.number(sample.value))\n"
                }
            }
        }
        return out
    }

    private static func braces(_ pairs: [String]) -> String { pairs.isEmpty ? "" : "{\(pairs.joined(separator: ","))}" }

    static func number(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }

    /// Label values escape backslash, quote and newline; HELP text the same except the quote.
    static func escapeLabel(_ s: String, quotes: Bool = true) -> String {
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"" where quotes: out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    static func escapeHelp(_ s: String) -> String { escapeLabel(s, quotes: false) }
}
