import Shared

/// Maintenance jobs the supervisor asks for (snapshot, restore), run while holding the user's locks.
enum MaintenanceHandlers {
    static func run(_ request: MaintenanceRequest, context: WorkerContext) -> MaintenanceReply {
        let started = WallClock.monotonic()
        do {
            let message: String
            switch request.command {
            case .snapshot: message = try Snapshot.take(into: request.path, context: context)
            case .restore: message = try Restore.run(from: request.path, context: context)
            }
            context.log.info("maintenance done", ["job": .string(request.command.rawValue), "path": .string(request.path),
                                                  "seconds": .of(Int64((WallClock.monotonic() - started).rounded()))])
            return MaintenanceReply(ok: true, message: message)
        } catch {
            let text = "\(request.command.rawValue) failed: \(error)"
            context.log.error("maintenance failed", ["job": .string(request.command.rawValue), "path": .string(request.path),
                                                     "error": .string("\(error)")])
            return MaintenanceReply(ok: false, message: text)
        }
    }
}
