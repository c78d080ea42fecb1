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
        let limit = context.maxDecompressedBytes
        let store = context.store
        let tempPath = store.folder + "/\(UserStore.uploadPrefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SyncFailure(500, "cannot create a temporary file: \(String(cString: strerror(errno)))") }
        var fdOpen = true
        defer {
            if fdOpen { close(fd) }
            unlink(tempPath)
        }
        var written = 0
        do {
            try exchange.streamBody(decompressedLimit: limit, compressedLimit: limit) { chunk in
                var done = 0
                while done < chunk.count {
                    let n = write(fd, chunk.baseAddress! + done, chunk.count - done)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw SyncFailure(200, "write failed: \(String(cString: strerror(errno)))")
                    }
                    done += n
                }
                written += chunk.count
            }
        } catch ZstdError.outputLimit {
            let kept = exchange.discardBody(limit: discardAfterLimitBytes)
            if !kept { exchange.mustClose = true }
            context.log.warn("upload refused: over the size limit", ["user": .string(context.user), "limit_bytes": .of(limit)])
            try exchange.respond(text: tooLargeText(limit: limit, megs: context.maxPayloadMegs))
            return
        } catch let error as ZstdError {
            context.log.warn("upload refused: bad zstd body", ["user": .string(context.user), "error": .string("\(error)")])
            if !exchange.bodyFullyRead && !exchange.discardBody(limit: discardAfterLimitBytes) { exchange.mustClose = true }
            try exchange.respond(text: corruptText)
            return
        } catch let failure as SyncFailure where failure.status == 200 {
            context.log.error("upload failed", ["user": .string(context.user), "error": .string(failure.message)])
            if !exchange.discardBody(limit: discardAfterLimitBytes) { exchange.mustClose = true }
            try exchange.respond(text: corruptText)
            return
        }
        if written >= limit {
            try exchange.respond(text: tooLargeText(limit: limit, megs: context.maxPayloadMegs))
            return
        }
        guard fsync(fd) == 0 else {
            context.log.error("upload failed: fsync", ["user": .string(context.user), "error": .string(String(cString: strerror(errno)))])
            try exchange.respond(text: corruptText)
            return
        }
        close(fd)
        fdOpen = false
        if exchange.isLegacy {
            // Legacy clients send schema 11: upgrade the temporary file, then validate as usual.
            do { try LegacyFullSync.upgradeUpload(atPath: tempPath) } catch {
                context.log.warn("upload refused: cannot upgrade from schema 11", ["user": .string(context.user), "reason": .string("\(error)")])
                try exchange.respond(text: corruptText)
                return
            }
        }
        do {
            try Collection.validateUpload(atPath: tempPath)
        } catch {
            context.log.warn("upload refused: not a valid collection", ["user": .string(context.user), "reason": .string("\(error)")])
            try exchange.respond(text: corruptText)
            return
        }
        if let refusal = Quota.refuseCollection(context: context) {
            try exchange.respond(text: refusal)
            return
        }
        try store.exclusive {
            let target = store.collectionPath
            unlink(target + "-wal")
            unlink(target + "-shm")
            guard rename(tempPath, target) == 0 else {
                throw SyncFailure(500, "cannot replace the collection: \(String(cString: strerror(errno)))")
            }
            syncDirectory(store.folder)
        }
        context.log.info("collection replaced by upload", ["user": .string(context.user), "bytes": .of(written)])
        try exchange.respond(text: "OK")
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
        _ = try exchange.readBody(limit: 64 * 1024)
        context.sessions.abortAny(reason: "download")
        let store = context.store
        // Bump usn/mod and checkpoint, then stream the file while holding the lock, so no write
        // (and no checkpoint) can change the bytes under the reader.
        _ = try store.withCollection { collection in
            try collection.prepareForDownload(nowMillis: WallClock.nowMillis())
        }
        try store.exclusive { try sendFile(store.collectionPath, what: "the collection", exchange: exchange) }
    }

    /// Streams a whole file as the response (compressed as it is read, never held in memory).
    static func sendFile(_ path: String, what: String, exchange: SyncExchange) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SyncFailure(500, "cannot open \(what): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SyncFailure(500, "cannot stat \(what)") }
        let size = Int(st.st_size)
        var block = [UInt8](repeating: 0, count: 1 << 20)
        try exchange.respondStream(originalSize: size) { emit in
            var remaining = size
            while remaining > 0 {
                let n = block.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, remaining)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw SyncFailure(500, "\(what) shrank while sending") }
                try block.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                remaining -= n
            }
        }
    }

    /// fsync of a folder, so a rename inside it survives a power cut.
    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}
