import Shared
import Storage

/// `applyChunk`: the objects a client sends, 250 at a time in official clients.
///
/// A chunk that is not the last is answered as soon as it is decoded and checked, and stored
/// afterwards — still under the collection lock, so the session's next step waits for it — while
/// the client prepares its next chunk. Storing then overlaps the client's own work instead of
/// following it (a 10,000-note push is 120 such round trips). A problem found only while storing
/// (a note whose notetype is missing or has another field count) rolls the session back, and its
/// next step fails with 400 and the reason (a server fault: 500 with an error id, the detail in the
/// log): the client aborts the sync either way, one step later than with the reference. The last chunk (`done`), and its check for orphaned cards, is stored
/// before it is answered.
enum ClientChunks {
    /// More objects than this in one client chunk is refused (official clients send ≤ 252).
    static let maxObjects = 10_000

    struct Chunk {
        var done: Bool
        var revlog: [SyncRevlog]
        var cards: [SyncCard]
        var notes: [SyncNote]
    }

    /// Decodes every row before anything is stored, so a malformed one fails the whole chunk.
    static func decode(_ body: [UInt8]) throws -> Chunk {
        let root = try SyncWire.object(try SyncWire.parse(body, "applyChunk"), "applyChunk")
        let chunk = try SyncWire.object(root["chunk"], "applyChunk.chunk")
        var done = false
        if let d = chunk["done"], !d.isNull { done = try SyncWire.bool(d, "chunk.done") }
        let revlog = try SyncWire.optionalArray(chunk["revlog"], "chunk.revlog")
        let cards = try SyncWire.optionalArray(chunk["cards"], "chunk.cards")
        let notes = try SyncWire.optionalArray(chunk["notes"], "chunk.notes")
        let total = revlog.count + cards.count + notes.count
        guard total <= maxObjects else {
            throw SyncDataError("applyChunk: \(total) objects in one chunk (at most \(maxObjects))")
        }
        return Chunk(done: done,
                     revlog: try revlog.enumerated().map { try SyncWire.revlog($1, "chunk.revlog[\($0)]") },
                     cards: try cards.enumerated().map { try SyncWire.card($1, "chunk.cards[\($0)]") },
                     notes: try notes.enumerated().map { try SyncWire.note($1, "chunk.notes[\($0)]") })
    }

    /// Stores a decoded chunk in the session's transaction.
    static func store(_ chunk: Chunk, _ store: SyncStore, _ session: SyncSessions.Session, _ sessions: SyncSessions) throws {
        let usn = session.serverUsn, clientUsn = session.clientUsn
        for r in chunk.revlog { try store.mergeRevlog(r, usn: usn) }
        for c in chunk.cards { try store.mergeCard(c, clientUsn: clientUsn, usn: usn) }
        for n in chunk.notes { try store.mergeNote(n, clientUsn: clientUsn, usn: usn) }
        if chunk.done {
            let orphans = try store.orphanedCards(usn: usn)
            if !orphans.isEmpty {
                throw SyncDataError("cards refer to notes that do not exist: \(orphans.map(String.init).joined(separator: ", "))")
            }
            sessions.updateLocked { $0.clientChunksDone = true }
        }
    }

    /// The reply to every `applyChunk`.
    static let reply = Array("null".utf8)

    /// Answers (through `answer`) then stores a chunk that is not the last; a failure while
    /// storing rolls the transaction back and is kept as the session's rollback reason.
    static func answerThenStore(_ chunk: Chunk, _ store: SyncStore, _ session: SyncSessions.Session, _ sessions: SyncSessions,
                                log: Log, answer: ([UInt8]) throws -> Void) throws {
        try answer(reply)
        do {
            try Self.store(chunk, store, session, sessions)
        } catch {
            store.rollback()
            // The client's data at fault: its reason is told (400); a server fault stays in the
            // log and the next step answers 500 with an error id.
            let refusal = HTTPError.refusal("applyChunk", error)
            sessions.updateLocked {
                $0.rollbackReason = "an earlier chunk could not be stored: \(refusal?.reason ?? "\(error)")"
                $0.rollbackIsFault = refusal == nil
            }
            log.warn("sync step failed after its answer", ["method": "applyChunk", "problem": .string("\(error)")])
        }
    }
}
