import Shared
import Storage

/// `meta`: the collection's state, so the client can decide between no-op, normal and full sync.
enum MetaHandler {

    static func handle(_ exchange: SyncExchange, context: WorkerContext) throws {
        let body = try exchange.readBody(limit: RequestLimits.bodyLimit(.meta, payloadLimit: context.maxDecompressedBytes))
        guard case .object(let request)? = try? JSON.parse(body) else {
            throw HTTPError(400, "meta: body is not valid JSON {\"v\",\"cv\"}")
        }
        var bodyVersion: Int?
        switch request["v"] {
        case .int(let v)?: bodyVersion = Int(exactly: v)
        case nil, .null?: bodyVersion = nil
        default: throw HTTPError(400, "meta: v must be an integer")
        }
        let version = bodyVersion ?? exchange.header.version
        guard SyncHeader.supportedVersions.contains(version) else {
            throw HTTPError(501, "sync version \(version) is not supported; please update Anki")
        }
        context.sessions.abortAny(reason: "meta")
        let (meta, gate) = try context.store.withCollection { collection in
            (try collection.meta(), try versionGate(version, collection))
        }
        let json = "{\"mod\":\(meta.mod),\"scm\":\(meta.scm),\"usn\":\(meta.usn),\"ts\":\(WallClock.nowMillis() / 1000),"
            + "\"msg\":\(MediaHandlers.jsonString(gate ?? "")),\"cont\":\(gate == nil),\"hostNum\":0,\"empty\":\(meta.isEmpty),\"media_usn\":\(try context.mediaUsn())}"
        try exchange.respond(json: json)
    }

    /// Old clients cannot sync a collection using features they predate (PROTOCOL.md §3): the
    /// v2 scheduler needs sync version 9, the new time-zone handling version 10.
    static func versionGate(_ version: Int, _ collection: Collection) throws -> String? {
        guard version < 10 else { return nil }
        let store = SyncStore(collection)
        let schedVer = try store.config("schedVer").flatMap { try? JSON.parse($0).int64 } ?? 1
        if version < 9 && schedVer >= 2 { return "Your client does not support the v2 scheduler" }
        let offset = try store.config("creationOffset").flatMap { try? JSON.parse($0) }
        if let offset, !offset.isNull { return "Your client does not support the new timezone handling." }
        return nil
    }
}
