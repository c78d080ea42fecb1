import Shared

/// Deck config ("dconf") schema-11 JSON ⇄ `deck_config` row (COLLECTION.md §3.3).
public enum DeckConfigCodec {
    static let reservedKeys: Set<String> = [
        "id", "newSortOrder", "replayq", "newPerDayMinimum", "usn", "autoplay", "dyn", "maxTaken",
        "reviewOrder", "buryInterdayLearning", "newMix", "mod", "timer", "name", "interdayLearningMix",
        "newGatherPriority", "fsrsWeights", "fsrsParams5", "fsrsParams6", "desiredRetention",
        "stopTimerOnAnswer", "secondsToShowQuestion", "secondsToShowAnswer", "questionAction",
        "answerAction", "waitForAudio", "sm2Retention", "weightSearch", "ignoreRevlogsBeforeDate",
        "easyDaysPercentages",
    ]
    static let reservedNewKeys: Set<String> = ["order", "delays", "bury", "perDay", "initialFactor", "ints"]
    static let reservedRevKeys: Set<String> = ["maxIvl", "hardFactor", "ease4", "ivlFct", "perDay", "bury"]
    static let reservedLapseKeys: Set<String> = ["leechFails", "mult", "leechAction", "delays", "minInt"]

    // MARK: Sub-objects (each falls back to its defaults as a whole when any key is unusable)

    struct NewConf {
        var bury = false
        var delays: [Float] = [1, 10]
        var initialFactor: UInt16 = 2500
        var good: UInt16 = 1
        var easy: UInt16 = 4
        /// JSON `order`: 0 random, 1 due.
        var order: UInt8 = 1
        var perDay: UInt32 = 20
        var other = JSONObject()

        static func parse(_ v: JSONValue) -> NewConf? {
            guard var r = try? JSONObjectReader(v, what: "new") else { return nil }
            do {
                var c = NewConf()
                c.bury = try r.def("bury", false, Strict.bool)
                c.delays = try r.reqOrDefault("delays", [], Strict.f32Array)
                c.initialFactor = try r.req("initialFactor", Strict.u16)
                // at least two u16 values: good, easy; anything else → 1, 4
                let ints = try r.reqOrDefault("ints", [1, 4], Strict.u16Array)
                if ints.count >= 2 { (c.good, c.easy) = (ints[0], ints[1]) }
                c.order = try r.reqOrDefault("order", 1) { Strict.int($0, 0...1).map { UInt8($0) } }
                c.perDay = try r.reqOrDefault("perDay", 0, Strict.u32)
                c.other = r.others()
                return c
            } catch {
                return nil
            }
        }
    }

    struct RevConf {
        var bury = false
        var ease4: Float = 1.3
        var ivlFct: Float = 1.0
        var maxIvl: UInt32 = 36500
        var perDay: UInt32 = 200
        var hardFactor: Float = 1.2
        var other = JSONObject()

        static func parse(_ v: JSONValue) -> RevConf? {
            guard var r = try? JSONObjectReader(v, what: "rev") else { return nil }
            do {
                var c = RevConf()
                c.bury = try r.def("bury", false, Strict.bool)
                c.ease4 = try r.req("ease4", Strict.f32)
                c.ivlFct = try r.req("ivlFct", Strict.f32)
                c.maxIvl = try r.req("maxIvl", Strict.u32)
                c.perDay = try r.reqOrDefault("perDay", 0, Strict.u32)
                c.hardFactor = try r.def("hardFactor", 1.2, Strict.f32)
                c.other = r.others()
                return c
            } catch {
                return nil
            }
        }
    }

    struct LapseConf {
        var delays: [Float] = [10]
        var leechAction: UInt8 = 1
        var leechFails: UInt32 = 8
        var minInt: UInt32 = 1
        var mult: Float = 0
        var other = JSONObject()

        static func parse(_ v: JSONValue) -> LapseConf? {
            guard var r = try? JSONObjectReader(v, what: "lapse") else { return nil }
            do {
                var c = LapseConf()
                c.delays = try r.reqOrDefault("delays", [], Strict.f32Array)
                c.leechAction = try r.reqOrDefault("leechAction", 1) { Strict.int($0, 0...1).map { UInt8($0) } }
                c.leechFails = try r.req("leechFails", Strict.u32)
                c.minInt = try r.req("minInt", Strict.u32)
                c.mult = try r.req("mult", Strict.f32)
                c.other = r.others()
                return c
            } catch {
                return nil
            }
        }
    }

    // MARK: JSON → row

    public static func row(fromSchema11 json: JSONValue) throws -> DeckConfigRow {
        var r = try JSONObjectReader(json, what: "deck config")
        let id = try r.req("id", Strict.i64OrString)
        let mtime = try r.req("mod", Strict.i64OrString)
        let name = try r.req("name", Strict.string)
        let usn = try r.req("usn", Strict.i32)
        let maxTaken = try r.req("maxTaken", Strict.i32)
        let autoplay = try r.req("autoplay", Strict.bool)
        let timer = try r.reqOrDefault("timer", 0, Strict.u8)
        let replayq = try r.def("replayq", false, Strict.bool)
        let new = try r.reqOrDefault("new", NewConf(), NewConf.parse)
        let rev = try r.reqOrDefault("rev", RevConf(), RevConf.parse)
        let lapse = try r.reqOrDefault("lapse", LapseConf(), LapseConf.parse)
        _ = r.lenient("dyn", false, Strict.bool)
        let newMix = try r.def("newMix", 0, Strict.i32)
        let newPerDayMinimum = try r.def("newPerDayMinimum", 0, Strict.u32)
        let interdayLearningMix = try r.def("interdayLearningMix", 0, Strict.i32)
        let reviewOrder = try r.def("reviewOrder", 0, Strict.i32)
        let newSortOrder = try r.def("newSortOrder", 0, Strict.i32)
        let newGatherPriority = try r.def("newGatherPriority", 0, Strict.i32)
        let buryInterdayLearning = try r.def("buryInterdayLearning", false, Strict.bool)
        let fsrs4 = try r.def("fsrsWeights", [], Strict.f32Array)
        let fsrs5 = try r.def("fsrsParams5", [], Strict.f32Array)
        let fsrs6 = try r.def("fsrsParams6", [], Strict.f32Array)
        let desiredRetention = try r.def("desiredRetention", 0, Strict.f32)
        let ignoreRevlogsBeforeDate = try r.def("ignoreRevlogsBeforeDate", "", Strict.string)
        let easyDays = try r.def("easyDaysPercentages", [], Strict.f32Array)
        let stopTimerOnAnswer = try r.def("stopTimerOnAnswer", false, Strict.bool)
        let secondsQuestion = try r.def("secondsToShowQuestion", 0, Strict.f32)
        let secondsAnswer = try r.def("secondsToShowAnswer", 0, Strict.f32)
        let questionAction = try r.def("questionAction", 0) { Strict.int($0, 0...1) }
        let answerAction = try r.def("answerAction", 0) { Strict.int($0, 0...4) }
        let waitForAudio = try r.def("waitForAudio", true, Strict.bool)
        let sm2Retention = try r.def("sm2Retention", 0, Strict.f32)
        let paramSearch = try r.def("weightSearch", "", Strict.string)

        // Unknown keys of new/rev/lapse travel nested under those names in the top-level `other`.
        var other = r.others()
        if !new.other.isEmpty { other["new"] = .object(new.other) }
        if !rev.other.isEmpty { other["rev"] = .object(rev.other) }
        if !lapse.other.isEmpty { other["lapse"] = .object(lapse.other) }

        var w = ProtoWriter()
        w.packedFloats(1, new.delays)
        w.packedFloats(2, lapse.delays)
        w.packedFloats(3, fsrs4)
        w.packedFloats(4, easyDays)
        w.packedFloats(5, fsrs5)
        w.packedFloats(6, fsrs6)
        w.uint32(9, new.perDay)
        w.uint32(10, rev.perDay)
        w.float(11, Float(new.initialFactor) / 1000)
        w.float(12, rev.ease4)
        w.float(13, rev.hardFactor)
        w.float(14, lapse.mult)
        w.float(15, rev.ivlFct)
        w.uint32(16, rev.maxIvl)
        w.uint32(17, lapse.minInt)
        w.uint32(18, UInt32(new.good))
        w.uint32(19, UInt32(new.easy))
        w.int64(20, new.order == 0 ? 1 : 0)  // JSON 0 random → RANDOM (1); JSON 1 due → DUE (0)
        w.int64(21, Int64(lapse.leechAction))
        w.uint32(22, lapse.leechFails)
        w.bool(23, !autoplay)
        w.uint32(24, UInt32(max(maxTaken, 0)))
        w.bool(25, timer != 0)
        w.bool(26, !replayq)
        w.bool(27, new.bury)
        w.bool(28, rev.bury)
        w.bool(29, buryInterdayLearning)
        w.int64(30, Int64(newMix))
        w.int64(31, Int64(interdayLearningMix))
        w.int64(32, Int64(newSortOrder))
        w.int64(33, Int64(reviewOrder))
        w.int64(34, Int64(newGatherPriority))
        w.uint32(35, newPerDayMinimum)
        w.int64(36, questionAction)
        w.float(37, desiredRetention)
        w.bool(38, stopTimerOnAnswer)
        w.float(40, sm2Retention)
        w.float(41, secondsQuestion)
        w.float(42, secondsAnswer)
        w.int64(43, answerAction)
        w.bool(44, waitForAudio)
        w.string(45, paramSearch)
        w.string(46, ignoreRevlogsBeforeDate)
        w.bytes(255, OtherJSON.encode(other))
        return DeckConfigRow(id: id, name: name, mtimeSecs: mtime, usn: Int64(usn), config: w.bytes)
    }

    // MARK: Row → JSON

    /// The reference replaces out-of-range values (not clamped) whenever it reads a config.
    static func valid(_ v: UInt32, _ range: ClosedRange<UInt32>, _ fallback: UInt32) -> UInt32 {
        range.contains(v) ? v : fallback
    }

    static func valid(_ v: Float, _ min: Float, _ max: Float, _ fallback: Float) -> Float {
        (v.isNaN || v < min || v > max) ? fallback : v
    }

    public static func schema11(from row: DeckConfigRow) throws -> JSONValue {
        let c = try ProtoReader(row.config)
        let newPerDay = valid(try c.uint32(9), 0...9999, 20)
        let reviewsPerDay = valid(try c.uint32(10), 0...9999, 200)
        let newPerDayMinimum = valid(try c.uint32(35), 0...9999, 0)
        let initialEase = valid(try c.float(11), 1.31, 5.0, 2.5)
        let easyMultiplier = valid(try c.float(12), 1.0, 5.0, 1.3)
        let hardMultiplier = valid(try c.float(13), 0.5, 1.3, 1.2)
        let lapseMultiplier = valid(try c.float(14), 0.0, 1.0, 0.0)
        let intervalMultiplier = valid(try c.float(15), 0.5, 2.0, 1.0)
        let maxIvl = valid(try c.uint32(16), 1...36500, 36500)
        let minIvl = valid(try c.uint32(17), 1...36500, 1)
        let gradGood = valid(try c.uint32(18), 1...36500, 1)
        let gradEasy = valid(try c.uint32(19), 1...36500, 4)
        let leechThreshold = valid(try c.uint32(22), 1...9999, 8)
        let capAnswer = valid(try c.uint32(24), 1...9999, 60)
        let desiredRetention = valid(try c.float(37), 0.7, 0.99, 0.9)
        let historicalRetention = valid(try c.float(40), 0.7, 0.97, 0.9)

        // Split the stored unknown keys back into top level and the three sub-objects.
        var top = OtherJSON.decode(try c.bytes(255), reserved: [])
        func nested(_ key: String, _ reserved: Set<String>) -> JSONObject {
            guard let v = top.removeValue(forKey: key), case .object(let o) = v else { return JSONObject() }
            return JSONObject(uniqueEntries: o.entries.filter { !reserved.contains($0.key) })
        }
        let newOther = nested("new", reservedNewKeys)
        let revOther = nested("rev", reservedRevKeys)
        let lapseOther = nested("lapse", reservedLapseKeys)
        top = JSONObject(uniqueEntries: top.entries.filter { !reservedKeys.contains($0.key) })

        var new = JSONObject()
        new["bury"] = .bool(try c.bool(27))
        new["delays"] = Emit.f32Array(try c.floats(1))
        new["initialFactor"] = .int(Int64(Emit.saturatingU16(initialEase * 1000)))
        let good = Int64(UInt16(truncatingIfNeeded: gradGood))
        let easy = Int64(UInt16(truncatingIfNeeded: gradEasy))
        new["ints"] = .array([.int(good), .int(easy), .int(0)])
        let insertOrder = try c.enumValue(20)
        new["order"] = .int(insertOrder == 1 ? 0 : 1)
        new["perDay"] = .int(Int64(newPerDay))
        new.appendOthers(newOther)

        var rev = JSONObject()
        rev["bury"] = .bool(try c.bool(28))
        rev["ease4"] = Emit.f32(easyMultiplier)
        rev["ivlFct"] = Emit.f32(intervalMultiplier)
        rev["maxIvl"] = .int(Int64(maxIvl))
        rev["perDay"] = .int(Int64(reviewsPerDay))
        rev["hardFactor"] = Emit.f32(hardMultiplier)
        rev.appendOthers(revOther)

        var lapse = JSONObject()
        lapse["delays"] = Emit.f32Array(try c.floats(2))
        lapse["leechAction"] = .int(try c.enumValue(21) == 1 ? 1 : 0)
        lapse["leechFails"] = .int(Int64(leechThreshold))
        lapse["minInt"] = .int(Int64(minIvl))
        lapse["mult"] = Emit.f32(lapseMultiplier)
        lapse.appendOthers(lapseOther)

        let answerAction = try c.enumValue(43)
        var o = JSONObject()
        o["id"] = .int(row.id)
        o["mod"] = .int(row.mtimeSecs)
        o["name"] = .string(row.name)
        o["usn"] = .int(Int64(Int32(truncatingIfNeeded: row.usn)))
        o["maxTaken"] = .int(Int64(Int32(bitPattern: capAnswer)))
        o["autoplay"] = .bool(!(try c.bool(23)))
        o["timer"] = .int(try c.bool(25) ? 1 : 0)
        o["replayq"] = .bool(!(try c.bool(26)))
        o["new"] = .object(new)
        o["rev"] = .object(rev)
        o["lapse"] = .object(lapse)
        o["dyn"] = .bool(false)
        o["newMix"] = .int(Int64(try c.enumValue(30)))
        o["newPerDayMinimum"] = .int(Int64(newPerDayMinimum))
        o["interdayLearningMix"] = .int(Int64(try c.enumValue(31)))
        o["reviewOrder"] = .int(Int64(try c.enumValue(33)))
        o["newSortOrder"] = .int(Int64(try c.enumValue(32)))
        o["newGatherPriority"] = .int(Int64(try c.enumValue(34)))
        o["buryInterdayLearning"] = .bool(try c.bool(29))
        o["fsrsWeights"] = Emit.f32Array(try c.floats(3))
        o["fsrsParams5"] = Emit.f32Array(try c.floats(5))
        o["fsrsParams6"] = Emit.f32Array(try c.floats(6))
        o["desiredRetention"] = Emit.f32(desiredRetention)
        o["ignoreRevlogsBeforeDate"] = .string(try c.string(46))
        o["easyDaysPercentages"] = Emit.f32Array(try c.floats(4))
        o["stopTimerOnAnswer"] = .bool(try c.bool(38))
        o["secondsToShowQuestion"] = Emit.f32(try c.float(41))
        o["secondsToShowAnswer"] = Emit.f32(try c.float(42))
        o["questionAction"] = .int(try c.enumValue(36) == 1 ? 1 : 0)
        o["answerAction"] = .int((1...4).contains(answerAction) ? Int64(answerAction) : 0)
        o["waitForAudio"] = .bool(try c.bool(44))
        o["sm2Retention"] = Emit.f32(historicalRetention)
        o["weightSearch"] = .string(try c.string(45))
        o.appendOthers(top)
        return .object(o)
    }
}
