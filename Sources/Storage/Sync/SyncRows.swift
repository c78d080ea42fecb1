/// Rows exchanged by normal sync (COLLECTION.md §4.2), as the sync engine reads and writes them.

/// `[id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data]`; sfld/csum/flags/data are
/// recomputed or fixed on the way in and sent as `""`, `""`, 0, `""`.
public struct SyncNote: Equatable, Sendable {
    public var id: Int64
    public var guid: String
    public var mid: Int64
    public var mod: Int64
    public var usn: Int64
    public var tags: String
    public var flds: String

    public init(id: Int64, guid: String, mid: Int64, mod: Int64, usn: Int64, tags: String, flds: String) {
        self.id = id
        self.guid = guid
        self.mid = mid
        self.mod = mod
        self.usn = usn
        self.tags = tags
        self.flds = flds
    }
}

/// `[id, nid, did, ord, mod, usn, type, queue, due, ivl, factor, reps, lapses, left, odue, odid, flags, data]`.
public struct SyncCard: Equatable, Sendable {
    public var id: Int64
    public var nid: Int64
    public var did: Int64
    public var ord: Int64
    public var mod: Int64
    public var usn: Int64
    public var type: Int64
    public var queue: Int64
    public var due: Int64
    public var ivl: Int64
    public var factor: Int64
    public var reps: Int64
    public var lapses: Int64
    public var left: Int64
    public var odue: Int64
    public var odid: Int64
    public var flags: Int64
    public var data: String

    public init(id: Int64, nid: Int64, did: Int64, ord: Int64, mod: Int64, usn: Int64, type: Int64, queue: Int64,
                due: Int64, ivl: Int64, factor: Int64, reps: Int64, lapses: Int64, left: Int64, odue: Int64,
                odid: Int64, flags: Int64, data: String) {
        self.id = id
        self.nid = nid
        self.did = did
        self.ord = ord
        self.mod = mod
        self.usn = usn
        self.type = type
        self.queue = queue
        self.due = due
        self.ivl = ivl
        self.factor = factor
        self.reps = reps
        self.lapses = lapses
        self.left = left
        self.odue = odue
        self.odid = odid
        self.flags = flags
        self.data = data
    }

    /// The 16 integer columns after id, in table order (nid … flags).
    var integers: [Int64] { [nid, did, ord, mod, usn, type, queue, due, ivl, factor, reps, lapses, left, odue, odid, flags] }
}

/// `[id, cid, usn, ease, ivl, lastIvl, factor, time, type]`.
public struct SyncRevlog: Equatable, Sendable {
    public var id: Int64
    public var cid: Int64
    public var usn: Int64
    public var ease: Int64
    public var ivl: Int64
    public var lastIvl: Int64
    public var factor: Int64
    public var time: Int64
    public var type: Int64

    public init(id: Int64, cid: Int64, usn: Int64, ease: Int64, ivl: Int64, lastIvl: Int64, factor: Int64,
                time: Int64, type: Int64) {
        self.id = id
        self.cid = cid
        self.usn = usn
        self.ease = ease
        self.ivl = ivl
        self.lastIvl = lastIvl
        self.factor = factor
        self.time = time
        self.type = type
    }
}

/// Deletions: card, note and deck ids.
public struct SyncGraves: Equatable, Sendable {
    public var cards: [Int64]
    public var notes: [Int64]
    public var decks: [Int64]

    public init(cards: [Int64] = [], notes: [Int64] = [], decks: [Int64] = []) {
        self.cards = cards
        self.notes = notes
        self.decks = decks
    }

    public var count: Int { cards.count + notes.count + decks.count }
}

/// The sanity-check counts (the due counts are always zero on the wire).
public struct SanityCounts: Equatable, Sendable {
    public var cards: Int64
    public var notes: Int64
    public var revlog: Int64
    public var graves: Int64
    public var notetypes: Int64
    public var decks: Int64
    public var deckConfig: Int64

    public init(cards: Int64, notes: Int64, revlog: Int64, graves: Int64, notetypes: Int64, decks: Int64, deckConfig: Int64) {
        self.cards = cards
        self.notes = notes
        self.revlog = revlog
        self.graves = graves
        self.notetypes = notetypes
        self.decks = decks
        self.deckConfig = deckConfig
    }
}

/// The ids a server sends in `chunk`, snapshotted at the first call; taken from the end.
public struct ChunkableIds: Sendable, Equatable {
    public var revlog: [Int64]
    public var cards: [Int64]
    public var notes: [Int64]

    public init(revlog: [Int64], cards: [Int64], notes: [Int64]) {
        self.revlog = revlog
        self.cards = cards
        self.notes = notes
    }

    /// One round-robin pass after another (revlog, note, card), while fewer than `limit` ids are
    /// taken (a pass is never cut short, as in the reference, so a chunk may exceed `limit` by up
    /// to two); `done` when the chunk came out short.
    public mutating func take(limit: Int) -> (revlog: [Int64], notes: [Int64], cards: [Int64], done: Bool) {
        var left = limit
        var r: [Int64] = [], n: [Int64] = [], c: [Int64] = []
        while left > 0 {
            let before = left
            if let id = revlog.popLast() { r.append(id); left -= 1 }
            if let id = notes.popLast() { n.append(id); left -= 1 }
            if let id = cards.popLast() { c.append(id); left -= 1 }
            if left == before { break }
        }
        return (r, n, c, left > 0)
    }
}

/// A failure caused by the data a client sent (not a server fault): the caller answers 400.
public struct SyncDataError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
