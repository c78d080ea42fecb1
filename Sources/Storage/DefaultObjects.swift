/// The objects a brand-new collection starts with (COLLECTION.md §5): deck config 1, deck 1, one
/// self-authored "Basic" notetype and the 16 config keys. Blobs are encoded per §2/§3.
enum DefaultObjects {
    // MARK: Deck config 1 "Default"

    /// `DeckConfigConfig` with the client's defaults (§3.3); fields at their proto3 default are omitted.
    static func deckConfigBlob() -> [UInt8] {
        var w = ProtoWriter()
        w.packedFloats(1, [1, 10])          // learn_steps (minutes)
        w.packedFloats(2, [10])             // relearn_steps
        w.packedFloats(4, Array(repeating: 1, count: 7)) // easy_days_percentages
        w.uint32(9, 20)                     // new_per_day
        w.uint32(10, 200)                   // reviews_per_day
        w.float(11, 2.5)                    // initial_ease
        w.float(12, 1.3)                    // easy_multiplier
        w.float(13, 1.2)                    // hard_multiplier
        w.float(14, 0)                      // lapse_multiplier
        w.float(15, 1.0)                    // interval_multiplier
        w.uint32(16, 36500)                 // maximum_review_interval
        w.uint32(17, 1)                     // minimum_lapse_interval
        w.uint32(18, 1)                     // graduating_interval_good
        w.uint32(19, 4)                     // graduating_interval_easy
        w.int64(20, 0)                      // new_card_insert_order: DUE
        w.int64(21, 1)                      // leech_action: TAG_ONLY
        w.uint32(22, 8)                     // leech_threshold
        w.uint32(24, 60)                    // cap_answer_time_to_secs
        w.float(37, 0.9)                    // desired_retention
        w.float(40, 0.9)                    // historical_retention
        w.bool(44, true)                    // wait_for_audio
        return w.bytes
    }

    // MARK: Deck 1 "Default"

    /// `DeckCommon`: study and browser collapsed.
    static func deckCommonBlob() -> [UInt8] {
        var w = ProtoWriter()
        w.bool(1, true)
        w.bool(2, true)
        return w.bytes
    }

    /// `DeckKindContainer { normal { config_id: 1 } }`.
    static func deckKindBlob() -> [UInt8] {
        var normal = ProtoWriter()
        normal.int64(1, 1)
        var w = ProtoWriter()
        w.message(1, normal)
        return w.bytes
    }

    // MARK: Notetype "Basic" (project-authored text)

    static let basicName = "Basic"
    static let fieldNames = ["Front", "Back"]
    static let templateName = "Card 1"
    static let questionFormat = "<div class=\"prompt\">{{Front}}</div>"
    static let answerFormat = "{{FrontSide}}\n<hr id=\"answer\">\n<div class=\"reply\">{{Back}}</div>"
    static let css = """
        .card {
          font-family: Helvetica, Arial, sans-serif;
          font-size: 22px;
          line-height: 1.5;
          text-align: center;
          padding: 1em;
        }
        .reply { margin-top: 0.5em; }

        """
    static let latexPre = """
        \\documentclass[11pt]{article}
        \\usepackage{amsmath}
        \\usepackage{amssymb}
        \\pagestyle{empty}
        \\begin{document}

        """
    static let latexPost = "\\end{document}"

    /// `NotetypeConfig`: normal kind, sort field 0, one requirement "card 0 needs any of field 0",
    /// original stock kind BASIC.
    static func notetypeConfigBlob() -> [UInt8] {
        var req = ProtoWriter()
        req.uint32(1, 0)                    // card_ord
        req.int64(2, 1)                     // kind: ANY
        req.packedUInt32(3, [0])            // field_ords
        var w = ProtoWriter()
        w.string(3, css)
        w.string(5, latexPre)
        w.string(6, latexPost)
        w.message(8, req)
        w.int64(9, 1)                       // original_stock_kind: BASIC
        return w.bytes
    }

    /// `FieldConfig`: font, size and the field's random id.
    static func fieldConfigBlob(id: Int64) -> [UInt8] {
        var w = ProtoWriter()
        w.string(3, "Arial")
        w.uint32(4, 20)
        w.int64(present: 9, id)
        return w.bytes
    }

    /// `TemplateConfig`: question/answer formats and the template's random id.
    static func templateConfigBlob(id: Int64) -> [UInt8] {
        var w = ProtoWriter()
        w.string(1, questionFormat)
        w.string(2, answerFormat)
        w.int64(present: 8, id)
        return w.bytes
    }

    // MARK: Config keys (§3.4)

    /// The 16 keys of a fresh collection as (key, compact JSON). `creationOffset` is null as on a
    /// server-created file.
    static func configEntries(basicNotetypeId: Int64) -> [(key: String, json: String)] {
        [
            ("activeDecks", "[1]"),
            ("addToCur", "true"),
            ("collapseTime", "1200"),
            ("creationOffset", "null"),
            ("curDeck", "1"),
            ("curModel", String(basicNotetypeId)),
            ("dayLearnFirst", "false"),
            ("dueCounts", "true"),
            ("estTimes", "true"),
            ("newSpread", "0"),
            ("nextPos", "1"),
            ("sched2021", "true"),
            ("schedVer", "2"),
            ("sortBackwards", "false"),
            ("sortType", "\"noteFld\""),
            ("timeLim", "0"),
        ]
    }

    /// A random 64-bit id for fields and templates (never 0, which reads as "unset" elsewhere).
    static func randomId() -> Int64 {
        var id: Int64 = 0
        while id == 0 { id = Int64.random(in: .min ... .max) }
        return id
    }
}
