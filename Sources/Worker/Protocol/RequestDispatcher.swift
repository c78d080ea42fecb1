import Glibc
import Shared

/// Serves one request on a connection handed over by the supervisor, then reports whether the
/// connection can go back for the next request (and with which bytes already read).
struct RequestDispatcher {
    let context: WorkerContext

    enum Outcome {
        /// Return the connection to the supervisor with these bytes read past the response.
        case keepAlive(leftover: [UInt8])
        case close
    }

    func serve(fd: Int32, prefix: [UInt8]) -> Outcome {
        let started = WallClock.monotonic()
        let reader = SocketReader(fd: fd, prefix: prefix)
        let head: HTTPRequestHead
        let headBytes: Int
        do {
            let raw = try reader.readHead(limit: context.limits.maxHeadBytes)
            headBytes = raw.count
            head = try HTTPHeadParser.parse(raw)
        } catch let error as HTTPError {
            reply(fd, HTTPResponse.text(status: error.status, error.reason, close: true))
            context.log.warn("bad request", ["user": .string(context.user), "status": .of(error.status), "reason": .string(error.reason)])
            return .close
        } catch {
            return .close
        }
        // The supervisor routed this request here; check again, so a worker only ever serves its own user.
        let route: SyncRoute
        let header: SyncHeader
        var framing = SyncExchange.Framing.v11
        var legacyBytes = 0
        do {
            route = try SyncRoute.resolve(method: head.method, path: head.path)
            if let value = head.header("anki-sync") {
                header = try SyncHeader(parsing: value)
            } else {
                // Sync v8–10: the key, session and payload are in a multipart form (or the query).
                let limit = max(context.maxDecompressedBytes, MediaUpload.minimumBodyLimit) + (1 << 20)
                let parsed = try LegacyRequest.read(head: head, route: route, reader: reader, folder: context.store.folder, bodyLimit: limit)
                header = SyncHeader(version: 10, hostKey: parsed.fields.hostKey ?? "", clientVersion: parsed.fields.clientVersion ?? "",
                                    sessionKey: parsed.fields.sessionKey)
                framing = .legacy(parsed.payload)
                legacyBytes = parsed.bodyBytes
            }
        } catch let failure as SyncFailure {
            reply(fd, HTTPResponse.text(status: failure.status, failure.message, close: true))
            context.log.warn("bad legacy request", ["user": .string(context.user), "status": .of(failure.status), "reason": .string(failure.message)])
            return .close
        } catch let failure as SyncRoute.Failure {
            reply(fd, HTTPResponse.text(status: failure.status, failure.reason, close: true))
            return .close
        } catch let error as HTTPError {
            reply(fd, HTTPResponse.text(status: error.status, error.reason, close: true))
            context.log.warn("bad request", ["user": .string(context.user), "status": .of(error.status), "reason": .string(error.reason)])
            return .close
        } catch {
            return .close
        }
        guard header.hostKey == context.hostKey else {
            reply(fd, HTTPResponse.text(status: 403, "403", close: true))
            context.log.warn("request with another user's key refused", ["user": .string(context.user)])
            return .close
        }
        let exchange = SyncExchange(head: head, headBytes: headBytes, header: header, route: route, reader: reader, framing: framing)
        exchange.addBytesIn(legacyBytes)
        var failureText = ""
        do {
            try handle(exchange)
        } catch let failure as SyncFailure {
            failureText = failure.message
            if !exchange.responded { try? exchange.respondError(status: failure.status, failure.message) }
        } catch let error as SocketReader.ReadError {
            failureText = "\(error)"
            exchange.mustClose = true
            if !exchange.responded, case .timeout = error {
                try? exchange.respondError(status: 408, "request body stalled for \(context.limits.bodyStallSeconds) s")
            }
        } catch let error as HTTPError {
            failureText = error.reason
            if !exchange.responded { try? exchange.respondError(status: error.status, error.reason) }
        } catch let error as ResponseWriter.WriteError {
            failureText = "\(error)"
            exchange.mustClose = true
        } catch {
            // Storage and other unexpected failures: a server problem, not the client's.
            failureText = "\(error)"
            if !exchange.responded { try? exchange.respondError(status: 500, "internal error: \(error)") }
        }
        let ms = Int((WallClock.monotonic() - started) * 1000)
        var fields: KeyValuePairs<String, LogValue> = [:]
        fields = ["user": .string(context.user), "client": .string(header.clientVersion.isEmpty ? "-" : header.clientVersion),
                  "method": .string(methodName(route)), "status": .of(exchange.status), "in": .of(exchange.bytesIn),
                  "out": .of(exchange.bytesOut), "ms": .of(ms), "error": .string(failureText)]
        if exchange.status >= 500 { context.log.error("request", fields) } else { context.log.info("request", fields) }
        context.heap.requestFinished(bytesMoved: exchange.bytesIn + exchange.bytesOut)
        if exchange.mustClose || !exchange.bodyFullyRead { return .close }
        return .keepAlive(leftover: reader.leftover)
    }

    private func handle(_ exchange: SyncExchange) throws {
        switch exchange.route {
        case .sync(.meta): try MetaHandler.handle(exchange, context: context)
        case .sync(.abort):
            _ = try exchange.readBody(limit: 64 * 1024)
            context.sessions.abortAny(reason: "abort")
            try exchange.respond(json: "null")
        case .sync(.upload): try FullSyncHandlers.upload(exchange, context: context)
        case .sync(.download): try FullSyncHandlers.download(exchange, context: context)
        case .sync(.hostKey):
            throw SyncFailure(400, "hostKey is answered by the supervisor")
        case .sync(let method):
            try NormalSyncHandlers.handle(method, exchange, context: context)
        case .media(let method):
            try MediaHandlers.handle(method, exchange, context: context)
        case .health:
            throw SyncFailure(400, "health is answered by the supervisor")
        }
    }

    private func methodName(_ route: SyncRoute) -> String {
        switch route {
        case .sync(let m): return m.rawValue
        case .media(let m): return "msync/" + m.rawValue
        case .health: return "health"
        }
    }

    private func reply(_ fd: Int32, _ bytes: [UInt8]) {
        try? ResponseWriter(fd: fd).write(bytes)
    }
}
