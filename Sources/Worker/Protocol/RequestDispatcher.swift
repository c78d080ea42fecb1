import Shared

/// Serves one request on a connection handed over by the supervisor (or an in-memory one in
/// tests), then reports whether the connection can go back for the next request (and with which
/// bytes already read).
struct RequestDispatcher {
    let context: WorkerContext

    enum Outcome: Equatable {
        /// Return the connection to the supervisor with these bytes read past the response.
        case keepAlive(leftover: [UInt8])
        case close
    }

    /// Serves one request; `report`, if given, receives what it did (for the supervisor).
    func serve(_ connection: Connection, prefix: [UInt8], connectionID: UInt64 = 0,
               report: ((RequestReport) -> Void)? = nil) -> Outcome {
        serve(RequestReader(connection: connection, prefix: prefix), connectionID: connectionID, report: report)
    }

    /// Serves the next request from `reader`. `held`: it came on a connection the worker kept, not
    /// through the front door.
    func serve(_ reader: RequestReader, connectionID: UInt64 = 0, held: Bool = false,
               report: ((RequestReport) -> Void)? = nil) -> Outcome {
        let started = WallClock.monotonic()
        let connection = reader.connection
        let opened: (exchange: SyncExchange, legacyBytes: Int)
        do {
            opened = try open(reader)
        } catch let error as HTTPError {
            try? ResponseWriter(connection: connection).write(HTTPResponse.text(status: error.status, error.reason, close: true))
            context.log.warn("bad request", ["user": .string(context.user), "status": .of(error.status), "reason": .string(error.reason)])
            return .close
        } catch is ConnectionError {
            // The client went away or stalled before a request could be read; nothing to answer.
            return .close
        } catch {
            // A server fault while reading a legacy form (its temporary file).
            let id = InternalError.newID()
            try? ResponseWriter(connection: connection).write(HTTPResponse.text(status: 500, InternalError.clientText(id: id), close: true))
            context.log.error("request failed", ["user": .string(context.user), "error_id": .string(id), "error": .string("\(error)")])
            return .close
        }
        let exchange = opened.exchange
        exchange.addBytesIn(opened.legacyBytes)
        let failureText = run(exchange)
        let elapsed = WallClock.monotonic() - started
        let ms = Int(elapsed * 1000)
        if exchange.status == 200 && !exchange.mustClose {
            // Steps that end a sync, once their answer went out whole.
            if exchange.route == .sync(.finish) { exchange.event = .normalSync }
            if exchange.route == .sync(.download) && exchange.event == .none { exchange.event = .fullDownload }
        }
        report?(RequestReport(connectionID: connectionID, method: exchange.route.methodName, status: exchange.status,
                              micros: UInt64(max(0, elapsed) * 1e6), bytesIn: UInt64(exchange.bytesIn),
                              bytesOut: UInt64(exchange.bytesOut), event: exchange.event, mediaFiles: exchange.mediaFiles,
                              client: exchange.header.clientVersion))
        let client = exchange.header.clientVersion
        let fields: KeyValuePairs<String, LogValue> = [
            "user": .string(context.user), "client": .string(client.isEmpty ? "-" : client),
            "method": .string(exchange.route.methodName), "status": .of(exchange.status), "in": .of(exchange.bytesIn),
            "out": .of(exchange.bytesOut), "ms": .of(ms), "via": .string(held ? "held" : "front-door"), "error": .string(failureText)]
        if exchange.status >= 500 { context.log.error("request", fields) } else { context.log.info("request", fields) }
        context.heap.requestFinished(bytesMoved: exchange.bytesIn + exchange.bytesOut)
        if exchange.mustClose || !exchange.bodyFullyRead { return .close }
        return .keepAlive(leftover: reader.leftover)
    }

    /// Reads the head (and a legacy form) and checks the request is this worker's user's.
    private func open(_ reader: RequestReader) throws -> (SyncExchange, Int) {
        let raw = try reader.readHead(limit: context.limits.maxHeadBytes)
        let head = try HTTPHeadParser.parse(raw)
        let route = try SyncRoute.resolve(method: head.method, path: head.path)
        var header: SyncHeader
        var framing = SyncExchange.Framing.v11
        var legacyBytes = 0
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
        // The supervisor routed this request here; check again, so a worker only ever serves its own user.
        guard header.hostKey == context.hostKey else { throw HTTPError(403, "403") }
        let exchange = SyncExchange(head: head, headBytes: raw.count, header: header, route: route, reader: reader, framing: framing)
        return (exchange, legacyBytes)
    }

    /// Runs the handler and answers any failure it throws; returns the failure's text for the log.
    private func run(_ exchange: SyncExchange) -> String {
        do {
            try handle(exchange)
            return ""
        } catch let error as HTTPError {
            if !exchange.responded { try? exchange.respondError(status: error.status, error.reason) }
            return error.reason
        } catch let error as ConnectionError {
            exchange.mustClose = true
            if !exchange.responded, case .timeout = error {
                try? exchange.respondError(status: 408, "request body stalled for \(context.limits.bodyStallSeconds) s")
            }
            return "\(error)"
        } catch {
            // Storage, file system and other server faults: the detail stays in the log.
            let id = InternalError.newID()
            if !exchange.responded { try? exchange.respondError(status: 500, InternalError.clientText(id: id)) }
            return "\(InternalError.clientText(id: id)): \(error)"
        }
    }

    private func handle(_ exchange: SyncExchange) throws {
        switch exchange.route {
        case .sync(.meta): try MetaHandler.handle(exchange, context: context)
        case .sync(.abort): try abort(exchange)
        case .sync(.upload): try FullSyncHandlers.upload(exchange, context: context)
        case .sync(.download): try FullSyncHandlers.download(exchange, context: context)
        case .sync(.hostKey):
            throw HTTPError(400, "hostKey is answered by the supervisor")
        case .sync(let method):
            try NormalSyncHandlers.handle(method, exchange, context: context)
        case .media(let method):
            try MediaHandlers.handle(method, exchange, context: context)
        case .health:
            throw HTTPError(400, "health is answered by the supervisor")
        }
    }

    /// `abort`: drops any open sync session. Its body must be an empty input, as for the reference.
    private func abort(_ exchange: SyncExchange) throws {
        let body = try exchange.readBody(limit: RequestLimits.bodyLimit(.abort, payloadLimit: context.maxDecompressedBytes))
        try SyncWire.requireEmptyRequest(body, "abort")
        if context.sessions.hasActiveSession { exchange.event = .sessionRolledBack }
        context.sessions.abortAny(reason: "abort")
        try exchange.respond(json: "null")
    }
}
