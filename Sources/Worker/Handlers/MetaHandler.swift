import Foundation
import Shared
import Storage

/// `meta`: the collection's state, so the client can decide between no-op, normal and full sync.
enum MetaHandler {
    struct Request: Decodable {
        var v: Int?
        var cv: String?
    }

    static func handle(_ exchange: SyncExchange, context: WorkerContext) throws {
        let body = try exchange.readBody(limit: context.maxDecompressedBytes)
        let request: Request
        do { request = try JSONDecoder().decode(Request.self, from: Data(body)) } catch {
            throw SyncFailure(400, "meta: body is not valid JSON {\"v\",\"cv\"}")
        }
        let version = request.v ?? exchange.header.version
        guard SyncHeader.supportedVersions.contains(version) else {
            throw SyncFailure(501, "sync version \(version) is not supported; please update Anki")
        }
        context.sessions.abortAny(reason: "meta")
        let meta = try context.store.withCollection { try $0.meta() }
        let json = "{\"mod\":\(meta.mod),\"scm\":\(meta.scm),\"usn\":\(meta.usn),\"ts\":\(WallClock.nowMillis() / 1000),"
            + "\"msg\":\"\",\"cont\":true,\"hostNum\":0,\"empty\":\(meta.isEmpty),\"media_usn\":\(try context.mediaUsn())}"
        try exchange.respond(json: json)
    }
}
