import Shared
import Storage

/// The stateful normal-sync methods: start, applyGraves, applyChanges, chunk, applyChunk,
/// sanityCheck2, finish (PROTOCOL §6.4–§6.11). `abort` is served by the dispatcher through
/// `SyncSessions.abortAny`.
///
/// Every step runs under the user's collection lock, inside the session's one transaction. A step
/// that fails drops the session (rollback) and answers 400 when the client's data is at fault
/// (500 with an error id for a server fault); the stored file is then as before `start`. Request
/// bodies are read before the lock is taken. Replies are sent after it is released, except where
/// work that follows the answer must run before the session's next step (`applyChanges`, `chunk`,
/// `applyChunk`: see `ServerChunks` and `ClientChunks`).
enum NormalSyncHandlers {
    /// More ids than this in one `applyGraves` is refused (official clients send ≤ 250).
    static let maxGravesPerRequest = 100_000

    static func handle(_ method: SyncMethod, _ exchange: SyncExchange, context: WorkerContext) throws {
        let body = try exchange.readBody(limit: RequestLimits.bodyLimit(method, payloadLimit: context.maxDecompressedBytes))
        let skey = exchange.header.sessionKey
        let reply: [UInt8]?
        switch method {
        case .start:
            reply = try start(body, skey: skey, context: context)
        case .applyGraves, .applyChanges, .chunk, .applyChunk, .sanityCheck2, .finish:
            reply = try step(method, body, skey: skey, context: context) { try exchange.respond(payload: $0) }
        default:
            throw HTTPError(400, "sync method \(method.rawValue) is not a normal-sync step")
        }
        if let reply { try exchange.respond(payload: reply) }
    }

    static func nowSecs() -> Int64 { WallClock.nowMillis() / 1000 }

    // MARK: start

    static func start(_ body: [UInt8], skey: String, context: WorkerContext) throws -> [UInt8] {
        guard !skey.isEmpty else { throw HTTPError(400, "start: missing sync session key (s)") }
        let sessions = context.sessions
        sessions.attach(store: context.store, log: context.log)
        let request: (minUsn: Int64, lnewer: Bool, graves: SyncGraves?)
        do {
            let o = try SyncWire.object(try SyncWire.parse(body, "start"), "start")
            let minUsn = try SyncWire.int(o["minUsn"], "start.minUsn", SyncWire.i32)
            let lnewer = try SyncWire.bool(o["lnewer"], "start.lnewer")
            var graves: SyncGraves?
            if let g = o["graves"], !g.isNull { graves = try SyncWire.graves(g, "start.graves") }
            request = (minUsn, lnewer, graves)
        } catch let error as SyncDataError {
            sessions.abortAny(reason: "failed start")
            context.log.warn("sync step refused", ["method": "start", "problem": .string(error.message)])
            throw HTTPError(400, error.message)
        }
        return try context.store.withCollection { collection in
            sessions.dropLocked(collection, reason: "replaced by a new start", log: context.log)
            let store = SyncStore(collection)
            store.rollback()
            do {
                try store.begin()
                let serverUsn = try store.usn()
                sessions.beginLocked(.init(skey: skey, serverUsn: serverUsn, clientUsn: request.minUsn,
                                           clientIsNewer: request.lnewer, chunkIds: nil, lastActivity: WallClock.monotonic()))
                if let unburied = try store.unburyIfDayRolledOver(nowSecs: nowSecs(), usn: serverUsn), unburied > 0 {
                    context.log.info("unburied cards at day rollover", ["cards": .of(unburied)])
                }
                let graves = try store.pendingGraves(minUsn: request.minUsn)
                if let clientGraves = request.graves {
                    try store.applyGraves(clientGraves, usn: serverUsn)
                }
                return SyncWire.writeGraves(graves)
            } catch {
                sessions.dropLocked(collection, reason: "start failed", log: context.log)
                store.rollback()
                context.log.warn("sync step failed", ["method": "start", "problem": .string("\(error)")])
                throw HTTPError.refusal("start", error) ?? error
            }
        }
    }

    // MARK: steps inside a session

    /// The reply, or nil when the step answered early through `answer` and went on working.
    static func step(_ method: SyncMethod, _ body: [UInt8], skey: String, context: WorkerContext,
                     answer: ([UInt8]) throws -> Void) throws -> [UInt8]? {
        let sessions = context.sessions
        let what = method.rawValue
        guard !skey.isEmpty else { throw HTTPError(400, "\(what): missing sync session key (s)") }
        return try context.store.withCollection { collection in
            let session = try sessions.requireLocked(collection, skey: skey, now: WallClock.monotonic(), log: context.log)
            let store = SyncStore(collection)
            do {
                if let reason = session.rollbackReason {
                    throw session.rollbackIsFault ? InternalError(reason) as Error : SyncDataError(reason)
                }
                if method != .chunk { ServerChunks.discardPrepared(sessions) }
                let out: [UInt8]
                switch method {
                case .applyGraves: out = try applyGraves(body, store, session)
                case .applyChanges:
                    // The first server chunk is built while the client applies these changes.
                    try answer(try applyChanges(body, store, session))
                    sessions.updateLocked { $0.lastActivity = WallClock.monotonic() }
                    ServerChunks.prepareFirst(store, session, sessions)
                    return nil
                case .chunk:
                    guard let reply = try ServerChunks.serve(body, store, session, sessions, answer: answer) else { return nil }
                    out = reply
                case .applyChunk:
                    let chunk = try ClientChunks.decode(body)
                    guard chunk.done else {
                        sessions.updateLocked { $0.lastActivity = WallClock.monotonic() }
                        try ClientChunks.answerThenStore(chunk, store, session, sessions, log: context.log, answer: answer)
                        return nil
                    }
                    try ClientChunks.store(chunk, store, session, sessions)
                    out = ClientChunks.reply
                case .sanityCheck2:
                    let (reply, ok) = try sanityCheck(body, store, session, log: context.log)
                    sessions.updateLocked {
                        $0.lastActivity = WallClock.monotonic()
                        if !ok { $0.rollbackReason = "the session was rolled back after a failed sanity check" }
                    }
                    return reply
                case .finish:
                    try SyncWire.emptyInput(body, what)
                    let now = WallClock.nowMillis()
                    try store.finish(nowMillis: now)
                    try store.commit()
                    sessions.endLocked()
                    context.log.info("sync finished", ["usn": .of(session.serverUsn + 1), "mod": .of(now)])
                    return Array(String(now).utf8)
                default:
                    throw SyncDataError("not a session step")
                }
                sessions.updateLocked { $0.lastActivity = WallClock.monotonic() }
                return out
            } catch {
                sessions.dropLocked(collection, reason: "\(what) failed", log: context.log)
                store.rollback()
                context.log.warn("sync step failed", ["method": .string(what), "problem": .string("\(error)")])
                throw HTTPError.refusal(what, error) ?? error
            }
        }
    }

    static func applyGraves(_ body: [UInt8], _ store: SyncStore, _ session: SyncSessions.Session) throws -> [UInt8] {
        let o = try SyncWire.object(try SyncWire.parse(body, "applyGraves"), "applyGraves")
        let graves = try SyncWire.graves(o["chunk"], "applyGraves.chunk")
        guard graves.count <= maxGravesPerRequest else {
            throw SyncDataError("applyGraves: \(graves.count) ids in one request (at most \(maxGravesPerRequest))")
        }
        try store.applyGraves(graves, usn: session.serverUsn)
        return Array("null".utf8)
    }

    // MARK: applyChanges

    static func applyChanges(_ body: [UInt8], _ store: SyncStore, _ session: SyncSessions.Session) throws -> [UInt8] {
        let root = try SyncWire.object(try SyncWire.parse(body, "applyChanges"), "applyChanges")
        let changes = try SyncWire.object(root["changes"], "applyChanges.changes")
        let models = try SyncWire.optionalArray(changes["models"], "changes.models")
        var clientDecks: [JSONValue] = []
        var clientConfs: [JSONValue] = []
        if let decks = changes["decks"], !decks.isNull {
            let pair = try SyncWire.array(decks, "changes.decks")
            guard pair.count == 2 else { throw SyncDataError("changes.decks: expected [decks, deck configs]") }
            clientDecks = try SyncWire.optionalArray(pair[0], "changes.decks[0]")
            clientConfs = try SyncWire.optionalArray(pair[1], "changes.decks[1]")
        }
        let tags = try SyncWire.optionalArray(changes["tags"], "changes.tags").enumerated().map {
            try SyncWire.string($1, "changes.tags[\($0)]")
        }
        var conf: JSONObject?
        if let c = changes["conf"], !c.isNull { conf = try SyncWire.object(c, "changes.conf") }
        var crt: Int64?
        if let c = changes["crt"], !c.isNull { crt = try SyncWire.int(c, "changes.crt") }

        // 1. The server's own changes, gathered before anything of the client's is merged.
        let minUsn = session.clientUsn
        var reply = JSONObject()
        reply["models"] = .array(try store.pendingIds(table: "notetypes", minUsn: minUsn).map { id in
            guard let row = try store.notetypeRow(id) else { throw SyncDataError("notetype \(id) vanished") }
            return try NotetypeCodec.schema11(from: row)
        })
        let serverDecks = try store.pendingIds(table: "decks", minUsn: minUsn).map { id in
            guard let row = try store.deckRow(id) else { throw SyncDataError("deck \(id) vanished") }
            return try DeckCodec.schema11(from: row)
        }
        let serverConfs = try store.pendingIds(table: "deck_config", minUsn: minUsn).map { id in
            guard let row = try store.deckConfigRow(id) else { throw SyncDataError("deck config \(id) vanished") }
            return try DeckConfigCodec.schema11(from: row)
        }
        reply["decks"] = .array([.array(serverDecks), .array(serverConfs)])
        reply["tags"] = .array(try store.pendingTags(minUsn: minUsn).map { .string($0) })
        if !session.clientIsNewer {
            var map = JSONObject()
            for (key, value) in try store.allConfig() {
                do { map[key] = try JSON.parse(value) } catch {
                    throw SyncDataError("config value of \(key) is not valid JSON")
                }
            }
            try store.clearConfigUsns()
            reply["conf"] = .object(map)
            reply["crt"] = .int(try store.crt())
        }

        // 2. Merge the client's objects.
        let usn = session.serverUsn
        let now = nowSecs()
        for (i, json) in models.enumerated() {
            var row = try NotetypeCodec.row(fromSchema11: json)
            if let existing = try store.notetypeSummary(row.id) {
                guard existing.mtime <= row.mtimeSecs else { continue }
                if existing.fields != row.fields.count || existing.templates != row.templates.count {
                    throw SyncDataError("notetype schema changed: models[\(i)] (id \(row.id)) has \(row.fields.count) fields and \(row.templates.count) templates, the stored one \(existing.fields) and \(existing.templates); a full sync is required")
                }
            }
            row.usn = usn
            while let other = try store.notetypeId(named: row.name), other != row.id {
                row.name += "+"
                row.mtimeSecs = now
            }
            try store.writeNotetype(row)
        }
        for json in clientDecks {
            var row = try DeckCodec.row(fromSchema11: json)
            if let existing = try store.mtime(table: "decks", id: row.id), existing > row.mtimeSecs { continue }
            row.usn = usn
            while let other = try store.deckId(named: row.name), other != row.id {
                row.name += "+"
                row.mtimeSecs = now
            }
            try store.writeDeck(row)
        }
        for json in clientConfs {
            var row = try DeckConfigCodec.row(fromSchema11: json)
            if let existing = try store.mtime(table: "deck_config", id: row.id), existing > row.mtimeSecs { continue }
            row.usn = usn
            try store.writeDeckConfig(row)
        }
        for tag in tags { try store.registerTag(tag, usn: usn) }
        if let crt { try store.setCrt(crt) }
        if let conf {
            let entries = conf.entries.map { (key: $0.key, value: JSON.serialize(SyncWire.sortedKeys($0.value))) }
            try store.replaceConfig(entries, usn: usn, mtimeSecs: now)
        }
        return JSON.serialize(.object(reply))
    }

    // MARK: sanity

    /// The reply, and whether the check passed.
    static func sanityCheck(_ body: [UInt8], _ store: SyncStore, _ session: SyncSessions.Session,
                            log: Log) throws -> ([UInt8], Bool) {
        let o = try SyncWire.object(try SyncWire.parse(body, "sanityCheck2"), "sanityCheck2")
        var (due, client) = try SyncWire.sanityCounts(o["client"], "sanityCheck2.client")
        if let table = try store.tableWithPendingUsn() {
            log.warn("sanity check failed", ["problem": .string("table had usn=-1: \(table)")])
            var out = Array(#"{"status":"bad","c":"#.utf8)
            SyncWire.writeCounts(due: due, client, into: &out)
            out += Array(#","s":null}"#.utf8)
            store.rollback()
            return (out, false)
        }
        var server = try store.sanityCounts()
        due = [0, 0, 0]
        client.graves = 0
        server.graves = 0
        let ok = client == server
        var out = Array((ok ? #"{"status":"ok","c":"# : #"{"status":"bad","c":"#).utf8)
        SyncWire.writeCounts(due: due, client, into: &out)
        out += Array(#","s":"#.utf8)
        SyncWire.writeCounts(due: due, server, into: &out)
        out.append(UInt8(ascii: "}"))
        if !ok {
            log.warn("sanity check failed", ["client": .string("\(client)"), "server": .string("\(server)")])
            store.rollback()
        }
        return (out, ok)
    }
}
