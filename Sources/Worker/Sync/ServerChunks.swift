import Shared
import Storage

/// `chunk`: the server's revlog, cards and notes the client lacks, in chunks.
///
/// A chunk holds up to `maxObjects` objects and takes no more rows once `maxBytes` of JSON are
/// written (the rest wait for the next chunk). The reference sends 250 objects whatever their
/// size; four times as many is a quarter of the round trips of a large pull, and the byte budget
/// keeps a chunk of large notes smaller than the reference's.
///
/// After answering a chunk that is not the last, the next one is built at once — under the
/// collection lock, while the client stores the one it got — and kept in the session, so the
/// next `chunk` is answered without waiting; the first is built after `applyChanges` is
/// answered. Any other step first gives the prepared chunk's ids back, so what it changes is
/// read afresh.
enum ServerChunks {
    static let maxObjects = 1000
    static let maxBytes = 2 << 20

    /// A chunk's JSON, the ids it holds, and whether it is the last.
    struct Built: Sendable, Equatable {
        var reply: [UInt8]
        var sent: ChunkableIds
        var done: Bool
        /// Built before the session's first `chunk` (after `applyChanges`), with the ids taken then.
        var first = false
    }

    /// After `applyChanges`: takes the session's chunk ids and builds the first chunk.
    static func prepareFirst(_ store: SyncStore, _ session: SyncSessions.Session, _ sessions: SyncSessions) {
        guard session.chunkIds == nil, session.preparedChunk == nil,
              var pending = try? store.chunkableIds(minUsn: session.clientUsn),
              var first = try? build(store, &pending) else { return }
        first.first = true
        sessions.updateLocked {
            $0.chunkIds = pending
            $0.preparedChunk = first
        }
    }

    /// Serves `chunk`: the reply, or nil when it was answered early through `answer`.
    static func serve(_ body: [UInt8], _ store: SyncStore, _ session: SyncSessions.Session, _ sessions: SyncSessions,
                      answer: ([UInt8]) throws -> Void) throws -> [UInt8]? {
        try SyncWire.emptyInput(body, "chunk")
        var pending = try session.chunkIds ?? store.chunkableIds(minUsn: session.clientUsn)
        // The session lets go of the ids while they are taken, so taking does not copy the arrays.
        sessions.updateLocked {
            $0.chunkIds = nil
            $0.preparedChunk = nil
        }
        let current = try session.preparedChunk ?? build(store, &pending)
        guard !current.done else {
            sessions.updateLocked { $0.chunkIds = pending }
            return current.reply
        }
        try answer(current.reply)
        let unprepared = pending
        do {
            let prepared = try build(store, &pending)
            sessions.updateLocked {
                $0.chunkIds = pending
                $0.preparedChunk = prepared
            }
        } catch {
            // The next `chunk` builds it again and reports the problem.
            sessions.updateLocked { $0.chunkIds = unprepared }
        }
        return nil
    }

    /// Gives the ids of a prepared, unsent chunk back to the session's pending ids (or, for a
    /// first chunk, drops the ids taken with it: the first `chunk` takes them afresh).
    static func discardPrepared(_ sessions: SyncSessions) {
        sessions.updateLocked { s in
            guard let prepared = s.preparedChunk else { return }
            s.preparedChunk = nil
            s.chunkIds = prepared.first ? nil
                : (s.chunkIds ?? .empty).returning(prepared.sent)
        }
    }

    /// Takes the next chunk's ids from `pending` and writes their rows; ids that did not fit in
    /// the byte budget go back.
    static func build(_ store: SyncStore, _ pending: inout ChunkableIds) throws -> Built {
        let taken = pending.take(limit: maxObjects)
        var rows: [UInt8] = []
        rows.reserveCapacity(min(maxBytes, 256 * 1024))
        var unsent = ChunkableIds.empty
        /// Writes `"key":[rows]`; once the byte budget is spent the remaining ids wait in `unsent`.
        func section(_ key: String, _ ids: [Int64], _ back: WritableKeyPath<ChunkableIds, [Int64]>,
                     _ write: (Int64) throws -> Void) throws {
            guard !ids.isEmpty else { return }
            guard rows.count < maxBytes else {
                unsent[keyPath: back] = ids
                return
            }
            rows += Array(",\"\(key)\":[".utf8)
            for (i, id) in ids.enumerated() {
                if i > 0 {
                    guard rows.count < maxBytes else {
                        unsent[keyPath: back] = Array(ids[i...])
                        break
                    }
                    rows.append(UInt8(ascii: ","))
                }
                try write(id)
            }
            rows.append(UInt8(ascii: "]"))
        }
        try section("revlog", taken.revlog, \.revlog) { id in
            guard let row = try store.revlog(id) else { throw SyncDataError("revlog \(id) vanished during the sync") }
            SyncWire.writeRevlog(row, into: &rows)
        }
        try section("cards", taken.cards, \.cards) { id in
            guard let row = try store.card(id) else { throw SyncDataError("card \(id) vanished during the sync") }
            SyncWire.writeCard(row, into: &rows)
        }
        try section("notes", taken.notes, \.notes) { id in
            guard let row = try store.note(id) else { throw SyncDataError("note \(id) vanished during the sync") }
            SyncWire.writeNote(row, into: &rows)
        }
        pending = pending.returning(unsent)
        let sent = ChunkableIds(revlog: Array(taken.revlog.dropLast(unsent.revlog.count)),
                                cards: Array(taken.cards.dropLast(unsent.cards.count)),
                                notes: Array(taken.notes.dropLast(unsent.notes.count)))
        let done = taken.done && unsent == .empty
        return Built(reply: Array((done ? #"{"done":true"# : #"{"done":false"#).utf8) + rows + [UInt8(ascii: "}")],
                     sent: sent, done: done)
    }
}

extension ChunkableIds {
    static let empty = ChunkableIds(revlog: [], cards: [], notes: [])

    /// These ids with `ids` put back so they are taken next, in their order (`take` pops from the end).
    func returning(_ ids: ChunkableIds) -> ChunkableIds {
        ChunkableIds(revlog: revlog + ids.revlog.reversed(), cards: cards + ids.cards.reversed(),
                     notes: notes + ids.notes.reversed())
    }
}
