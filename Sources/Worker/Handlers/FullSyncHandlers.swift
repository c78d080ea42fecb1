import Glibc
import Shared
import Storage

/// Full sync: `upload` replaces the stored collection with a validated copy of the client's file;
/// `download` sends the stored file. Both stream: the body never sits in memory whole.
enum FullSyncHandlers {
    /// The reply text the official server uses for a rejected upload (the client shows it).
    static let corruptText = "Your upload was corrupt. Please use Check Database, or restore from backup."
    /// After the size limit is hit, at most this much more body is read (and dropped) so the client
    /// gets the explanation instead of a broken pipe.
    static let discardAfterLimitBytes = 64 * 1024 * 1024

    static func upload(_ exchange: SyncExchange, context: WorkerContext) throws {
        context.sessions.abortAny(reason: "upload")
        try exchange.respond(text: try receiveUpload(exchange, context: context))
    }

    /// Streams, checks and installs an upload; returns the text the client is shown. The
    /// temporary file is gone by the time it returns, so a client holding its answer never sees it.
    private static func receiveUpload(_ exchange: SyncExchange, context: WorkerContext) throws -> String {
        let limit = context.maxDecompressedBytes
        let store = context.store
        let tempPath = store.folder + "/\(UserStore.uploadPrefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw InternalError("cannot create a temporary file: \(String(cString: strerror(errno)))") }
        var fdOpen = true
        defer {
            if fdOpen { close(fd) }
            unlink(tempPath)
        }
        var written = 0
        do {
            try exchange.streamBody(decompressedLimit: limit, compressedLimit: limit) { chunk in
                try FileDescriptorIO.writeAll(fd, chunk)
                written += chunk.count
            }
        } catch ZstdError.outputLimit {
            let kept = exchange.discardBody(limit: discardAfterLimitBytes)
            if !kept { exchange.mustClose = true }
            context.log.warn("upload refused: over the size limit", ["user": .string(context.user), "limit_bytes": .of(limit)])
            return tooLargeText(limit: limit, megs: context.maxPayloadMegs)
        } catch let error as ZstdError {
            // Not a zstd stream at all: a bad request, as for the reference (not "corrupt").
            throw HTTPError(400, "upload: request body: \(error)")
        } catch let error as SystemError {
            // The temporary file could not be written (disk full): the client is told the upload failed.
            context.log.error("upload failed", ["user": .string(context.user), "error": .string("\(error)")])
            if !exchange.discardBody(limit: discardAfterLimitBytes) { exchange.mustClose = true }
            return corruptText
        }
        if written >= limit {
            return tooLargeText(limit: limit, megs: context.maxPayloadMegs)
        }
        guard fsync(fd) == 0 else {
            context.log.error("upload failed: fsync", ["user": .string(context.user), "error": .string(String(cString: strerror(errno)))])
            return corruptText
        }
        close(fd)
        fdOpen = false
        // The body's buffers (the zstd window above all) go back before the integrity check
        // fills its page cache: they would add to the upload's peak memory.
        HeapRelease.returnFreeHeap()
        if exchange.isLegacy {
            // Legacy clients send schema 11: upgrade the temporary file, then validate as usual.
            do { try LegacyFullSync.upgradeUpload(atPath: tempPath) } catch {
                context.log.warn("upload refused: cannot upgrade from schema 11", ["user": .string(context.user), "reason": .string("\(error)")])
                return corruptText
            }
        }
        do {
            try Collection.validateUpload(atPath: tempPath)
        } catch {
            context.log.warn("upload refused: not a valid collection", ["user": .string(context.user), "reason": .string("\(error)")])
            return corruptText
        }
        if let refusal = Quota.refuseCollection(context: context) { return refusal }
        try store.exclusive {
            let target = store.collectionPath
            unlink(target + "-wal")
            unlink(target + "-shm")
            guard rename(tempPath, target) == 0 else {
                throw InternalError("cannot replace the collection: \(String(cString: strerror(errno)))")
            }
            try? FileSync.sync(path: store.folder)
        }
        context.log.info("collection replaced by upload", ["user": .string(context.user), "bytes": .of(written)])
        exchange.event = .fullUpload
        return "OK"
    }

    static func tooLargeText(limit: Int, megs: Int) -> String {
        "collection exceeds size limit: the upload is \(limit / (1024 * 1024)) MiB or more uncompressed, and this server accepts "
            + "less than \(limit / (1024 * 1024)) MiB (3 × MAX_SYNC_PAYLOAD_MEGS=\(megs)). Ask the server's owner to raise MAX_SYNC_PAYLOAD_MEGS."
    }

    static func download(_ exchange: SyncExchange, context: WorkerContext) throws {
        if exchange.isLegacy {
            try LegacyFullSync.download(exchange, context: context)
            return
        }
        let body = try exchange.readBody(limit: RequestLimits.bodyLimit(.download, payloadLimit: context.maxDecompressedBytes))
        try SyncWire.requireEmptyRequest(body, "download")
        context.sessions.abortAny(reason: "download")
        let store = context.store
        _ = try store.withCollection { collection in
            try collection.prepareForDownload(nowMillis: WallClock.nowMillis())
        }
        // Copy under the lock (nothing can change the bytes meanwhile), stream outside it: a
        // device reading slowly never holds up this user's other requests.
        let copy = try store.exclusive { try CollectionCopy.anonymousCopy(of: store.collectionPath, folder: store.folder) }
        defer { close(copy) }
        try sendFile(copy, what: "the collection", exchange: exchange)
    }

    /// Streams a whole file as the response (compressed as it is read, never held in memory).
    static func sendFile(_ path: String, what: String, exchange: SyncExchange) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw InternalError("cannot open \(what): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try sendFile(fd, what: what, exchange: exchange)
    }

    /// Streams an open file from its start.
    static func sendFile(_ fd: Int32, what: String, exchange: SyncExchange) throws {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw InternalError("cannot stat \(what)") }
        let size = Int(st.st_size)
        var block = [UInt8](repeating: 0, count: 1 << 20)
        try exchange.respondStream(originalSize: size) { emit in
            var offset = 0
            while offset < size {
                let n = block.withUnsafeMutableBytes { pread(fd, $0.baseAddress, min($0.count, size - offset), off_t(offset)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw InternalError("\(what) shrank while sending") }
                try block.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                offset += n
            }
        }
    }
}
