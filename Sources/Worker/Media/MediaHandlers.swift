import FoundationEssentials
import Archive
import Glibc
import Shared
import Storage

/// `/msync/*` methods (MEDIA.md §2). Media sync ignores collection sync sessions. JSON replies are
/// wrapped as `{"data": …, "err": ""}`; failures are plain-text statuses with the reason.
enum MediaHandlers {
    static func handle(_ method: MediaMethod, _ exchange: SyncExchange, context: WorkerContext) throws {
        if exchange.head.method == "GET" && !exchange.isLegacy {
            throw HTTPError(400, "GET msync/begin is the legacy form: send k and v in the query, without an anki-sync header")
        }
        switch method {
        case .begin: try begin(exchange, context: context)
        case .mediaChanges: try changes(exchange, context: context)
        case .uploadChanges: try MediaUpload.handle(exchange, context: context)
        case .downloadFiles: try MediaDownload.handle(exchange, context: context)
        case .mediaSanity: try sanity(exchange, context: context)
        }
    }

    /// Small JSON request bodies are read up to this size.
    static let requestLimit = 1 << 20

    static func decode<T: Decodable>(_ type: T.Type, _ exchange: SyncExchange, what: String) throws -> T {
        let body = try exchange.readBody(limit: requestLimit)
        do { return try JSONDecoder().decode(T.self, from: Data(body)) } catch {
            throw HTTPError(400, "\(methodName(exchange)): body is not \(what)")
        }
    }

    static func methodName(_ exchange: SyncExchange) -> String {
        if case .media(let m) = exchange.route { return m.rawValue }
        return "request"
    }

    static func respond(_ exchange: SyncExchange, data: String) throws {
        try exchange.respond(json: "{\"data\":\(data),\"err\":\"\"}")
    }

    struct BeginRequest: Decodable { var v: String? }

    static func begin(_ exchange: SyncExchange, context: WorkerContext) throws {
        let request = try decode(BeginRequest.self, exchange, what: "JSON {\"v\": client version}")
        guard let version = request.v, !version.isEmpty else { throw HTTPError(400, "begin: missing client version \"v\"") }
        let usn = try context.media.currentUsn()
        try respond(exchange, data: "{\"usn\":\(usn),\"sk\":\(jsonString(context.hostKey))}")
    }

    struct ChangesRequest: Decodable { var lastUsn: Int32 }

    static func changes(_ exchange: SyncExchange, context: WorkerContext) throws {
        let request = try decode(ChangesRequest.self, exchange, what: "JSON {\"lastUsn\": integer}")
        let rows = try context.media.withDatabase { try $0.changes(after: Int64(request.lastUsn)) }
        var out = "["
        out.reserveCapacity(rows.count * 80 + 2)
        for (i, row) in rows.enumerated() {
            if i > 0 { out += "," }
            out += "[" + jsonString(row.name) + "," + String(row.usn) + ",\"" + row.sha1Hex + "\"]"
        }
        out += "]"
        try respond(exchange, data: out)
    }

    struct SanityRequest: Decodable { var local: UInt32 }

    static func sanity(_ exchange: SyncExchange, context: WorkerContext) throws {
        let request = try decode(SanityRequest.self, exchange, what: "JSON {\"local\": non-negative integer}")
        let live = try context.media.withDatabase { try $0.meta().liveFiles }
        let ok = live == Int64(request.local)
        if !ok {
            context.log.info("media sanity check failed", ["user": .string(context.user), "client": .of(Int64(request.local)), "server": .of(live)])
        }
        try respond(exchange, data: ok ? "\"OK\"" : "\"mediaSanity\"")
    }

    /// A JSON string literal, for names in replies and error messages.
    static func jsonString(_ s: String) -> String {
        String(decoding: JSON.serialize(.string(s)), as: UTF8.self)
    }
}

/// `uploadChanges`: the body is a zip of up to 25 files plus `_meta`.
enum MediaUpload {
    /// The decompressed body may reach this much even when MAX_SYNC_PAYLOAD_MEGS is small: a legal
    /// upload is up to 2.5 MiB plus one 100 MiB file plus zip overhead.
    static let minimumBodyLimit = 120 * 1024 * 1024
    /// Upload bodies up to this size are received in memory: the client fills a batch to 2.5 MiB
    /// (plus zip overhead), so only a body holding one large file is written to disk first.
    /// In a profile of 40,000 small files, the temporary file took about a tenth of the worker's CPU.
    static let inMemoryBodyLimit = 3 * 1024 * 1024

    static func handle(_ exchange: SyncExchange, context: WorkerContext) throws {
        let media = context.media
        let limit = max(context.maxDecompressedBytes, minimumBodyLimit)
        // 1. The decompressed body stays in memory up to `inMemoryBodyLimit` (the client's usual
        // batch); a larger one (it holds a big file) goes on to an unlinked temporary file.
        try media.ensureReady()
        var memory: [UInt8] = []
        memory.reserveCapacity(inMemoryBodyLimit)        // no regrowth copies while the body arrives
        var fd: Int32 = -1
        defer { if fd >= 0 { close(fd) } }
        var written = 0
        do {
            try exchange.streamBody(decompressedLimit: limit, compressedLimit: limit) { chunk in
                if fd < 0 && memory.count + chunk.count <= inMemoryBodyLimit {
                    memory.append(contentsOf: chunk)
                } else {
                    if fd < 0 {
                        fd = try media.anonymousTemporary()
                        try memory.withUnsafeBytes { try writeAll(fd, $0) }
                        memory = []
                    }
                    try writeAll(fd, chunk)
                }
                written += chunk.count
            }
        } catch ZstdError.outputLimit {
            throw HTTPError(400, "upload refused: the body is larger than \(limit) bytes")
        } catch let error as ZstdError {
            throw HTTPError(400, "upload refused: request body: \(error)")
        }
        // 2. Check everything and stage the new files; nothing is applied yet.
        let upload: MediaService.StagedUpload
        do {
            let zip = try fd >= 0 ? ZipReader(fd: fd) : ZipReader(bytes: memory)
            upload = try stage(zip, media: media)
        } catch let error as ZipError {
            throw HTTPError(400, "upload refused: \(error.reason)")
        } catch let error as MediaUploadError {
            throw HTTPError(400, "upload refused: \(error.reason)")
        }
        let staged = upload.changes
        if let refusal = Quota.refuseMedia(staged.map(\.change), context: context) {
            for s in staged { if let p = s.stagedPath { unlink(p) } }
            // No "data": the client shows "err" as the server's message (MEDIA.md 1.4).
            try exchange.respond(json: "{\"err\":\(MediaHandlers.jsonString(refusal))}")
            return
        }
        // 3. One transaction; then the files move into place.
        let usn = try media.apply(upload)
        context.log.info("media upload applied", ["user": .string(context.user), "entries": .of(staged.count), "bytes": .of(written), "usn": .of(usn)])
        exchange.mediaFiles = staged.count
        try MediaHandlers.respond(exchange, data: "[\(staged.count),\(usn)]")
    }

    /// Reads `_meta`, checks every entry and copies each new file out of the zip into a staging
    /// file while computing its SHA-1. On any failure the staged files are removed.
    static func stage(_ archive: ZipReader, media: MediaService) throws -> MediaService.StagedUpload {
        guard let metaEntry = archive.entry(named: "_meta") else { throw MediaUploadError("the zip has no _meta member") }
        var json: [UInt8] = []
        do {
            try archive.read(metaEntry, limit: MediaLimits.maxManifestBytes) { json.append(contentsOf: $0) }
        } catch let error as ZipError where error.kind == .memberTooLarge {
            throw MediaUploadError("_meta is larger than \(MediaLimits.maxManifestBytes) bytes")
        }
        let manifest = try MediaManifest.parse(json)
        // Every member must exist and declare an acceptable size before any byte is copied.
        var members: [ZipEntry?] = []
        for item in manifest {
            guard let memberName = item.member else {
                members.append(nil)
                continue
            }
            guard let member = archive.entry(named: memberName) else {
                throw MediaUploadError("_meta names zip member \(MediaHandlers.jsonString(memberName)) for \(MediaHandlers.jsonString(item.name)), but the zip has no such member")
            }
            guard member.uncompressedSize <= MediaLimits.maxFileBytes else {
                throw MediaUploadError("\(MediaHandlers.jsonString(item.name)) is \(member.uncompressedSize) bytes; the limit is \(MediaLimits.maxFileBytes)")
            }
            guard member.uncompressedSize > 0 else { throw MediaUploadError("\(MediaHandlers.jsonString(item.name)) is empty") }
            members.append(member)
        }
        try MediaManifest.checkBudget(memberCount: archive.entries.count, declaredSizes: members.compactMap { $0?.uncompressedSize })
        var staged: [MediaService.StagedChange] = []
        staged.reserveCapacity(manifest.count)
        do {
            for (item, member) in zip(manifest, members) {
                guard let member else {
                    staged.append(.init(change: .delete(name: item.name), stagedPath: nil))
                    continue
                }
                let path = media.newStagingPath()
                let out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
                guard out >= 0 else { throw InternalError("cannot create a staging file: \(String(cString: strerror(errno)))") }
                staged.append(.init(change: .delete(name: item.name), stagedPath: path))
                var hasher = MediaHasher()
                let size: Int
                do {
                    defer { close(out) }
                    size = try archive.read(member, limit: member.uncompressedSize) { chunk in
                        hasher.update(chunk)
                        try writeAll(out, chunk)
                    }
                    // `read` checked the content against the member's CRC-32: keep it for downloads.
                    ChecksumCache.store(fd: out, crc: member.crc32)
                } catch let error as ZipError where error.kind == .memberTooLarge {
                    throw MediaUploadError("\(MediaHandlers.jsonString(item.name)) inflates to more than the \(member.uncompressedSize) bytes its zip member declares")
                }
                guard size > 0 else { throw MediaUploadError("\(MediaHandlers.jsonString(item.name)) is empty") }
                staged[staged.count - 1].change = .addOrReplace(name: item.name, sha1: hasher.finalize(), size: Int64(size))
            }
            // Durable together, before the commit that lists them (see `MediaService.flushStaged`).
            let durable = staged.contains(where: { $0.stagedPath != nil }) ? try media.flushStaged() : nil
            return .init(changes: staged, durable: durable)
        } catch {
            for s in staged { if let p = s.stagedPath { unlink(p) } }
            throw error
        }
    }

    static func writeAll(_ fd: Int32, _ chunk: UnsafeRawBufferPointer) throws {
        do { try FileDescriptorIO.writeAll(fd, chunk) } catch {
            throw InternalError("write failed: \(String(cString: strerror(error.code)))")
        }
    }
}

/// `downloadFiles`: a stored zip of the requested files (a prefix of the list, cut after the file
/// that takes the total past 2.5 MiB), members `0`, `1`, … and `_meta` mapping them to names.
/// The zip goes to the socket as it is built; its exact size is computed first.
enum MediaDownload {
    struct Request: Decodable { var files: [String] }

    /// Files up to this size are read once (then checksummed and sent from memory); larger ones
    /// are read twice (CRC-32 first, since it precedes the data in the zip).
    static let singleReadLimit = 8 * 1024 * 1024

    static func handle(_ exchange: SyncExchange, context: WorkerContext) throws {
        let request = try MediaHandlers.decode(Request.self, exchange, what: "JSON {\"files\": [file names]}")
        guard request.files.count <= MediaLimits.maxEntriesPerZip else {
            throw HTTPError(400, "downloadFiles: \(request.files.count) files requested; at most \(MediaLimits.maxEntriesPerZip) per request")
        }
        let media = context.media
        // Under the lock: which files, and their descriptors (a later replace renames a new file
        // over the name, so an open descriptor keeps the bytes whose SHA-1 was listed).
        let opened: [OpenFile] = try media.withDatabase { db in
            var out: [OpenFile] = []
            var total: Int64 = 0
            var missing: String?
            do {
                // One read transaction for the whole list (not one, with its file locks, per name).
                try db.connection.transaction {
                    for name in request.files {
                        guard let entry = try db.liveEntry(named: name) else {
                            throw HTTPError(409, "downloadFiles: \(MediaHandlers.jsonString(name)) is not a current file on the server")
                        }
                        let fd = MediaFileOpen.regularFile("\(media.mediaFolder)/\(name)", log: context.log)
                        if fd < 0 {
                            let err = errno
                            guard err == ENOENT else { throw InternalError("cannot open media file \(name): \(String(cString: strerror(err)))") }
                            missing = name
                            return
                        }
                        var st = stat()
                        fstat(fd, &st)
                        out.append(OpenFile(name: name, fd: fd, size: Int(st.st_size), crc: ChecksumCache.load(fd: fd, matching: st)))
                        total += entry.size
                        if total > Int64(MediaLimits.downloadTargetBytes) { break }
                    }
                }
                if let missing {
                    try db.forgetMissing(named: missing)
                    throw HTTPError(409, "downloadFiles: \(MediaHandlers.jsonString(missing)) is missing on the server's disk; its record was dropped")
                }
            } catch {
                for o in out { close(o.fd) }
                throw error
            }
            return out
        }
        defer { for o in opened { close(o.fd) } }
        var metaJSON = "{"
        for (i, o) in opened.enumerated() {
            if i > 0 { metaJSON += "," }
            metaJSON += "\"\(i)\":" + MediaHandlers.jsonString(o.name)
        }
        metaJSON += "}"
        let metaBytes = Array(metaJSON.utf8)
        var layout = opened.enumerated().map { (nameLength: String($0.offset).utf8.count, size: $0.element.size) }
        layout.append((nameLength: 5, size: metaBytes.count))
        let total = StoredZipWriter.archiveSize(layout)
        exchange.mediaFiles = opened.count
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: min(singleReadLimit, max(opened.map(\.size).max() ?? 0, 1)),
                                                            alignment: 64)
        defer { buffer.deallocate() }
        try exchange.respondStream(originalSize: total) { emit in
            var writer = StoredZipWriter()
            for (i, o) in opened.enumerated() {
                let name = Array(String(i).utf8)
                if o.size <= buffer.count {
                    // One read; checksum (unless known) and send from memory.
                    try readExactly(o, into: buffer, count: o.size, at: 0)
                    let data = UnsafeRawBufferPointer(rebasing: buffer[0..<o.size])
                    let header = try writer.localHeader(name: name, size: o.size, crc: o.crc ?? CRC32.update(0, data))
                    try header.withUnsafeBytes { try emit($0) }
                    try emit(data)
                } else {
                    var crc: UInt32 = 0
                    if let known = o.crc { crc = known } else { try forEachPiece(o, buffer: buffer) { crc = CRC32.update(crc, $0) } }
                    let header = try writer.localHeader(name: name, size: o.size, crc: crc)
                    try header.withUnsafeBytes { try emit($0) }
                    try forEachPiece(o, buffer: buffer) { try emit($0) }
                }
            }
            let header = try writer.localHeader(name: Array("_meta".utf8), size: metaBytes.count, crc: CRC32.of(metaBytes))
            try (header + metaBytes + writer.finish()).withUnsafeBytes { try emit($0) }
        }
    }

    /// A file chosen for the reply: its descriptor, size on disk and CRC-32 if already known.
    struct OpenFile {
        var name: String
        var fd: Int32
        var size: Int
        var crc: UInt32?
    }

    static func forEachPiece(_ file: OpenFile, buffer: UnsafeMutableRawBufferPointer,
                             _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var at = 0
        while at < file.size {
            let n = min(buffer.count, file.size - at)
            try readExactly(file, into: buffer, count: n, at: at)
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            at += n
        }
    }

    static func readExactly(_ file: OpenFile, into buffer: UnsafeMutableRawBufferPointer, count: Int, at offset: Int) throws {
        var done = 0
        while done < count {
            let n = pread(file.fd, buffer.baseAddress! + done, count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw InternalError("media file \(file.name) shrank while being sent") }
            done += n
        }
    }
}
