import FoundationEssentials

/// The day-rollover unbury done at `start` (COLLECTION §4.9): when the scheduler day has moved past
/// the stored `lastUnburied` day (or more than a week back), buried cards return to the queue of
/// their type without any change of mod/usn, and the new day is stored.
extension SyncStore {
    /// The scheduler's day number for `nowSecs`, computed from crt and the collection's config
    /// (`schedVer`, `rollover`, `creationOffset`, `localOffset`) the way a server computes it.
    public func schedulerDay(nowSecs: Int64, usn: Int64) throws -> Int64 {
        let crt = try self.crt()
        let v2 = configInt("schedVer") == 2
        guard v2 else { return (nowSecs - crt) / 86_400 }
        var rollover: Int64
        if let r = configInt("rollover"), (0...255).contains(r) {
            rollover = min(r, 23)
        } else {
            // the reference repairs a missing rollover hour on this path
            rollover = 4
            try setConfig("rollover", Array("4".utf8), usn: usn, mtimeSecs: nowSecs)
        }
        // minutes west of UTC; a missing or out-of-range offset means UTC
        func offsetSeconds(_ minutesWest: Int64?) -> Int64? {
            guard let m = minutesWest, abs(m * 60) < 86_400 else { return nil }
            return -m * 60
        }
        let current = offsetSeconds(configInt("localOffset")) ?? 0
        func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
        /// Local midnight-based day start (as a UTC timestamp) of `secs` in `offset`, plus `hour`.
        func rolloverStamp(_ secs: Int64, offset: Int64, hour: Int64) -> Int64 {
            let local = secs + offset
            return floorDiv(local, 86_400) * 86_400 + hour * 3600 - offset
        }
        if let creation = offsetSeconds(configInt("creationOffset")) {
            let rolloverToday = rolloverStamp(nowSecs, offset: current, hour: rollover % 24)
            let passed = rolloverToday <= nowSecs
            var days = floorDiv(nowSecs + current, 86_400) - floorDiv(crt + creation, 86_400)
            if !passed { days -= 1 }
            return max(days, 0)
        }
        let crtAtRollover = rolloverStamp(crt, offset: current, hour: rollover)
        return (nowSecs - crtAtRollover) / 86_400
    }

    /// Runs the unbury check; returns how many cards were unburied (nil if the day had not changed).
    @discardableResult
    public func unburyIfDayRolledOver(nowSecs: Int64, usn: Int64) throws -> Int? {
        let today = try schedulerDay(nowSecs: nowSecs, usn: usn)
        let last = configInt("lastUnburied").flatMap { (0...Int64(UInt32.max)).contains($0) ? $0 : nil } ?? 0
        guard last < today || today + 7 < last else { return nil }
        try db.run("""
            UPDATE cards SET queue = CASE type
              WHEN 0 THEN 0
              WHEN 2 THEN 2
              ELSE CASE WHEN due > 1000000000 THEN 1 ELSE 3 END
            END
            WHERE queue IN (-2, -3)
            """)
        let changed = db.changes
        if configInt("lastUnburied") != today {
            try setConfig("lastUnburied", Array(String(today).utf8), usn: usn, mtimeSecs: nowSecs)
        }
        return changed
    }

    /// A config value that is a JSON integer (or an integral float), else nil.
    func configInt(_ key: String) -> Int64? {
        guard let bytes = try? config(key) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self).trimmingUnicodeWhitespace
        if let v = Int64(text) { return v }
        if let d = Double(text), d.isFinite, d == d.rounded(), abs(d) < 9e18 { return Int64(d) }
        return nil
    }
}
