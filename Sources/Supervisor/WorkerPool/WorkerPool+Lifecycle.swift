import FoundationEssentials
import Glibc
import Shared

/// How workers stop and start again: draining, restarts, exits and crashes, reloads, server stop.
extension WorkerPool {
    /// Tells the worker to finish what it has and exit; later connections wait for what comes next.
    func drain(_ record: WorkerRecord, reason: DrainReason, note: String) {
        guard let process = record.process else { return }
        if case .draining(_, let current, let deadline) = record.lifecycle {
            // Already leaving: only what happens afterwards can change (e.g. removed, then re-added).
            record.lifecycle = .draining(process, reason: reason == .idle ? current : reason, killDeadline: deadline)
            return
        }
        record.lifecycle = .draining(process, reason: reason, killDeadline: WallClock.monotonic() + Self.drainSeconds)
        if !send(.shutdown(reason: note), to: record, what: "shutdown") {
            kill(process.pid, SIGTERM)
        }
    }

    /// Replaces the user's worker. With `waitForSession`, an open sync session may finish first
    /// (up to `sessionWaitSeconds`; then the worker stops anyway and the session is rolled back).
    func restart(_ record: WorkerRecord, waiter: ControlConnection?, waitForSession: Bool) {
        log.info("worker restart requested", ["user": .string(record.user.name), "pid": .of(record.process?.pid ?? 0)])
        metrics.worker(record.user.name, .restart)
        record.consecutiveCrashes = 0
        switch record.lifecycle {
        case .notRunning, .backingOff, .retired:
            record.lifecycle = .notRunning
            waiter?.reply(ControlReply(ok: true, message: "worker of \(record.user.name) was not running; the next request starts one"))
            return
        case .serving(let process):
            if let waiter { record.restartWaiters.append(waiter) }
            // A request in flight may be the one that opens a session: wait for it too.
            if waitForSession && (process.stats.activeSyncSession || !record.inWorker.isEmpty) {
                log.info("restart waits for the open sync session", ["user": .string(record.user.name),
                                                                      "max_s": .of(Int(Self.sessionWaitSeconds))])
                record.lifecycle = .awaitingSessionEnd(process, deadline: WallClock.monotonic() + Self.sessionWaitSeconds)
                // Connections the worker keeps between requests would look like requests in flight.
                send(.releaseHeld, to: record, what: "release held connections")
            } else {
                drain(record, reason: .restart, note: "restart requested")
            }
        case .awaitingSessionEnd:
            if let waiter { record.restartWaiters.append(waiter) }
            if !waitForSession { drain(record, reason: .restart, note: "restart requested") }
        case .draining:
            if let waiter { record.restartWaiters.append(waiter) }
            drain(record, reason: .restart, note: "restart requested")
        }
    }

    /// A restart waiting for a sync goes ahead once no session is open and no request is in the
    /// worker (stats arrive before the connection comes back, so both are current here).
    func restartIfQuiet(_ record: WorkerRecord) {
        guard case .awaitingSessionEnd(let process, _) = record.lifecycle,
              !process.stats.activeSyncSession, record.inWorker.isEmpty else { return }
        drain(record, reason: .restart, note: "restart requested; no sync session open")
    }

    /// Deadlines: workers that would not stop, restarts that waited long enough for a session.
    func sweep(now: Double) {
        for record in byIndex {
            switch record.lifecycle {
            case .draining(let process, let reason, let deadline) where now > deadline:
                log.warn("worker did not stop in time; killing", ["user": .string(record.user.name), "pid": .of(process.pid)])
                kill(process.pid, SIGKILL)
                record.lifecycle = .draining(process, reason: reason, killDeadline: .infinity)
            case .awaitingSessionEnd(_, let deadline) where now > deadline:
                log.warn("sync session still open after the restart wait; restarting anyway",
                         ["user": .string(record.user.name), "waited_s": .of(Int(Self.sessionWaitSeconds))])
                drain(record, reason: .restart, note: "restart requested (the open sync session is rolled back)")
            case .backingOff(let until) where now >= until:
                record.lifecycle = .notRunning
            default:
                break
            }
        }
    }

    /// A worker process ended (SIGCHLD): account for it and decide what comes next.
    func workerExited(pid: pid_t, status: Int32) {
        guard let record = byIndex.first(where: { $0.process?.pid == pid }), let process = record.process else { return }
        let how = WorkerSpawner.describe(status: status)
        let uptime = Int(WallClock.monotonic() - process.startedAt)
        poller.remove(process.channel.fd)
        close(process.channel.fd)
        record.inWorker = [:]
        record.requestsBefore += process.stats.requestsServed
        var reason: DrainReason?
        if case .draining(_, let r, _) = record.lifecycle { reason = r }
        record.lifecycle = .notRunning
        if WorkerSpawner.exitedCleanly(status: status) || stopping || reason != nil {
            record.consecutiveCrashes = 0
            log.info("worker exited", ["user": .string(record.user.name), "pid": .of(pid), "status": .string(how), "uptime_s": .of(uptime)])
        } else {
            // A worker that dies soon after starting counts towards backoff; a long healthy run resets it.
            record.consecutiveCrashes = uptime < Self.quickCrashSeconds ? record.consecutiveCrashes + 1 : 1
            log.error("worker crashed", ["user": .string(record.user.name), "pid": .of(pid), "status": .string(how), "uptime_s": .of(uptime)])
            metrics.worker(record.user.name, .crash)
            if record.consecutiveCrashes >= 3 {
                let delay = min(Self.maxBackoffSeconds, pow(2.0, Double(record.consecutiveCrashes - 2)))
                record.lifecycle = .backingOff(until: WallClock.monotonic() + delay)
                log.warn("worker backoff", ["user": .string(record.user.name), "seconds": .of(Int(delay)), "crashes": .of(record.consecutiveCrashes)])
                metrics.worker(record.user.name, .backoff)
            }
        }
        for (waiter, command) in record.maintenanceWaiters.values {
            waiter.reply(ControlReply(ok: false, message: "the worker of \(record.user.name) exited (\(how)) during \(command.rawValue)"))
        }
        record.maintenanceWaiters = [:]
        for waiter in record.restartWaiters {
            waiter.reply(ControlReply(ok: true, message: "worker of \(record.user.name) (pid \(pid)) stopped: \(how)"))
        }
        record.restartWaiters = []
        afterExit(record, reason: reason)
    }

    private func afterExit(_ record: WorkerRecord, reason: DrainReason?) {
        let waiting = record.waiting
        record.waiting = []
        if stopping || record.removed {
            if record.removed { record.lifecycle = .retired }
            let reason = stopping ? "the server is stopping; try again in a moment" : "this account is not served any more"
            for conn in waiting { frontDoor?.takeBack(conn, refusing: 503, reason: reason) }
            return
        }
        if reason == .restart {
            do { try spawn(record) } catch {
                log.error("worker spawn failed", ["user": .string(record.user.name), "error": .string("\(error)")])
            }
        }
        // Route again: to the fresh worker, a new one, or a 503 during backoff.
        for conn in waiting { handOff(conn, user: record.user.name) }
    }

    /// Applies a reloaded user list: new users get records, removed users' workers drain and their
    /// records retire, a changed password restarts the worker. A user removed and added back keeps
    /// their one record, so one worker at a time.
    func apply(users: [UserEntry]) -> (added: [String], removed: [String], changed: [String]) {
        var added: [String] = [], removed: [String] = [], changed: [String] = []
        let newNames = Set(users.map(\.name))
        for record in byIndex where !record.removed && !newNames.contains(record.user.name) {
            removed.append(record.user.name)
            record.removed = true
            if record.isRunning {
                drain(record, reason: .removed, note: "user removed from the configuration")
            } else {
                record.lifecycle = .retired
            }
        }
        for user in users {
            guard let record = records[user.name] else {
                added.append(user.name)
                addRecord(user)
                continue
            }
            let passwordChanged = record.user.secret != user.secret
            record.user = user
            if record.removed {
                added.append(user.name)
                record.removed = false
                switch record.lifecycle {
                case .retired: record.lifecycle = .notRunning
                // Still leaving after the removal: a fresh worker (with the new hello) follows it.
                case .draining: drain(record, reason: .restart, note: "user added back")
                default: break
                }
            } else if passwordChanged {
                changed.append(user.name)
                if record.isRunning { restart(record, waiter: nil, waitForSession: false) }
            }
        }
        return (added, removed, changed)
    }

    /// Server stop: every worker is told to finish its requests and exit.
    func stopAll() {
        stopping = true
        for record in byIndex where record.isRunning {
            drain(record, reason: .serverStopping, note: "server stopping")
        }
    }

    func killAll() {
        for record in byIndex {
            guard let process = record.process else { continue }
            log.warn("worker did not stop in time; killing", ["user": .string(record.user.name), "pid": .of(process.pid)])
            kill(process.pid, SIGKILL)
        }
    }
}
