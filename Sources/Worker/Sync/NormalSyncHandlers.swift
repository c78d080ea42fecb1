import Shared

/// The stateful normal-sync methods: start, applyGraves, applyChanges, chunk, applyChunk,
/// sanityCheck2, finish. Not served yet.
enum NormalSyncHandlers {
    static func handle(_ method: SyncMethod, _ exchange: SyncExchange, context: WorkerContext) throws {
        throw SyncFailure(400, "sync method \(method.rawValue) is not supported by this server yet")
    }
}
