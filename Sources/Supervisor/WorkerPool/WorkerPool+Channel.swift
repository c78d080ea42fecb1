import Glibc
import Shared

/// What workers say on their channels: connections coming back, counters, the idle proposal and
/// maintenance results.
extension WorkerPool {
    func channelEvent(index: Int, events: UInt32) {
        guard let record = record(at: index), let process = record.process else { return }
        if events & Poller.writable != 0 { flushWaiting(record) }
        while true {
            let result: ChannelSocket.ReceiveResult
            do { result = try process.channel.receive() } catch {
                log.error("bad channel message", ["user": .string(record.user.name), "error": .string("\(error)")])
                continue
            }
            switch result {
            case .wouldBlock:
                return
            case .closed:
                // SIGCHLD tells how it ended; stop polling the dead channel meanwhile.
                poller.remove(process.channel.fd)
                return
            case .message(let message, let fd):
                receive(message, fd: fd, from: record)
            }
        }
    }

    private func receive(_ message: ChannelMessage, fd: Int32, from record: WorkerRecord) {
        switch message {
        case .connectionBack(let id, let leftover):
            // Without a descriptor: the worker closed the connection itself.
            let handed = record.inWorker.removeValue(forKey: id)
            restartIfQuiet(record)
            guard fd >= 0 else { return }
            if stopping && leftover.isEmpty {
                close(fd)
                return
            }
            frontDoor?.adopt(fd: fd, buffer: leftover, peer: handed?.socketPeer ?? "-")
        case .stats(let stats):
            if fd >= 0 { close(fd) }
            record.updateProcess { $0.stats = stats }
            record.lastRequestMillis = max(record.lastRequestMillis, stats.lastRequestMillis)
            // A worker that served a request is healthy again: forget earlier crashes.
            if stats.requestsServed > 0 { record.consecutiveCrashes = 0 }
            restartIfQuiet(record)
        case .maintenanceDone(let id, let reply):
            if fd >= 0 { close(fd) }
            finishMaintenance(record, id: id, reply: reply)
        case .idle(let received):
            if fd >= 0 { close(fd) }
            guard case .serving(let process) = record.lifecycle, received == process.sentConnections,
                  record.waiting.isEmpty, record.maintenanceWaiters.isEmpty, !stopping else { return }
            log.info("worker idle exit", ["user": .string(record.user.name), "pid": .of(process.pid)])
            metrics.worker(record.user.name, .idleExit)
            drain(record, reason: .idle, note: "idle for \(config.limits.workerIdleSeconds) s")
        case .requestDone(let report):
            if fd >= 0 { close(fd) }
            let now = WallClock.nowMillis()
            metrics.report(report, user: record.user.name, unixSeconds: Double(now) / 1000)
            devices.saw(user: record.user.name, client: report.client, address: record.inWorker[report.connectionID]?.clientAddress ?? "-",
                        outcome: DeviceActivity.outcome(of: report), nowMillis: now)
        case .hello, .connection, .shutdown, .maintenance, .releaseHeld:
            if fd >= 0 { close(fd) }
            log.warn("unexpected channel message", ["user": .string(record.user.name)])
        }
    }

    // MARK: maintenance

    /// Runs a maintenance job in the user's worker (starting it if needed), so it holds the same
    /// locks as sync requests and no write is torn.
    func startMaintenance(_ record: WorkerRecord, _ request: MaintenanceRequest, id: UInt64, waiter: ControlConnection) {
        switch record.lifecycle {
        case .draining:
            waiter.reply(ControlReply(ok: false, message: "the worker of \(record.user.name) is stopping; try again in a moment"))
            return
        case .backingOff(let until) where WallClock.monotonic() < until:
            waiter.reply(ControlReply(ok: false, message: "the worker of \(record.user.name) is in crash backoff; see the log"))
            return
        case .backingOff, .notRunning, .retired:
            do { try spawn(record) } catch {
                waiter.reply(ControlReply(ok: false, message: "could not start the worker of \(record.user.name): \(error)"))
                return
            }
        case .serving, .awaitingSessionEnd:
            break
        }
        guard send(.maintenance(id: id, request: request), to: record, what: "maintenance") else {
            waiter.reply(ControlReply(ok: false, message: "could not reach the worker of \(record.user.name)"))
            return
        }
        record.maintenanceWaiters[id] = (waiter, request.command)
        log.info("maintenance started", ["user": .string(record.user.name), "job": .string(request.command.rawValue),
                                         "path": .string(request.path)])
    }

    private func finishMaintenance(_ record: WorkerRecord, id: UInt64, reply: MaintenanceReply) {
        guard let (waiter, command) = record.maintenanceWaiters.removeValue(forKey: id) else { return }
        log.info("maintenance finished", ["user": .string(record.user.name), "job": .string(command.rawValue),
                                          "ok": .bool(reply.ok), "message": .string(reply.message)])
        waiter.reply(ControlReply(ok: reply.ok, message: reply.message))
        // A restored folder is picked up by a fresh worker, so no state from before survives.
        if command == .restore && reply.ok { restart(record, waiter: nil, waitForSession: false) }
    }
}
