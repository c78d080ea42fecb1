import Foundation
import Storage
import XCTest
@testable import Worker

/// The upload's crash windows, on a real `MediaService` folder: a commit whose file moves did not
/// happen (the worker died, or the moves failed) is completed by the next start from the
/// `pending_moves` rows it committed; staged files no commit lists are removed.
final class MediaRecoveryTests: XCTestCase {
    private var folder = ""

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("media-recovery-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let dir = folder
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    }

    /// Stages `files` (name: content; nil deletes) as an upload does, flush included.
    private func stage(_ media: MediaService, _ files: KeyValuePairs<String, String?>) throws -> MediaService.StagedUpload {
        try media.ensureReady()
        var changes: [MediaService.StagedChange] = []
        for (name, content) in files {
            guard let content else {
                changes.append(.init(change: .delete(name: name), stagedPath: nil))
                continue
            }
            let path = media.newStagingPath()
            XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(content.utf8)))
            let bytes = Array(content.utf8)
            changes.append(.init(change: .addOrReplace(name: name, sha1: MediaHasher.sha1(bytes), size: Int64(bytes.count)),
                                 stagedPath: path))
        }
        return .init(changes: changes, durable: try media.flushStaged())
    }

    private func upload(_ media: MediaService, _ files: KeyValuePairs<String, String?>) throws {
        _ = try media.apply(try stage(media, files))
    }

    private func mediaFiles() throws -> [String: String] {
        var out: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder + "/media") {
            out[name] = try String(contentsOfFile: "\(folder)/media/\(name)", encoding: .utf8)
        }
        return out
    }

    private func stagingNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder + "/.media-staging")
    }

    private func pendingMoves(_ media: MediaService) throws -> [MediaDatabase.PendingMove] {
        try media.withDatabase { try $0.pendingMoves() }
    }

    func testMovesOwedByACommitAreFinishedAtTheNextStart() throws {
        let media = MediaService(folder: folder)
        try upload(media, ["a.txt": "old a", "keep.txt": "kept"])
        XCTAssertEqual(try mediaFiles(), ["a.txt": "old a", "keep.txt": "kept"])
        // The moves after the next commit fail (as if the worker died there): `media` is a file now.
        try FileManager.default.moveItem(atPath: folder + "/media", toPath: folder + "/media.away")
        XCTAssertTrue(FileManager.default.createFile(atPath: folder + "/media", contents: Data()))
        let upload = try stage(media, ["b.txt": "first b", "a.txt": nil, "b.txt": "second b", "c.txt": "c"])
        XCTAssertThrowsError(try media.apply(upload))
        XCTAssertEqual(try media.withDatabase { try $0.meta().lastUsn }, 6, "committed")
        XCTAssertEqual(try pendingMoves(media).map(\.usn), [3, 4, 5, 6])
        XCTAssertEqual(try stagingNames().count, 3, "the staged files wait for the next start")
        media.close()
        try FileManager.default.removeItem(atPath: folder + "/media")
        try FileManager.default.moveItem(atPath: folder + "/media.away", toPath: folder + "/media")

        let next = MediaService(folder: folder)
        try next.ensureReady()
        XCTAssertEqual(try mediaFiles(), ["b.txt": "second b", "c.txt": "c", "keep.txt": "kept"])
        XCTAssertEqual(try stagingNames(), [])
        XCTAssertEqual(try pendingMoves(next), [], "done and durable: the rows are gone")
        next.close()
    }

    func testStagedFilesNoCommitListsAreRemovedAndChangeNothing() throws {
        let media = MediaService(folder: folder)
        try upload(media, ["a.txt": "a"])
        _ = try stage(media, ["a.txt": "never committed", "new.txt": "never committed"])
        XCTAssertTrue(FileManager.default.createFile(atPath: folder + "/.media-staging/u2", contents: Data("stray".utf8)))
        media.close()

        let next = MediaService(folder: folder)
        try next.ensureReady()
        XCTAssertEqual(try mediaFiles(), ["a.txt": "a"])
        XCTAssertEqual(try stagingNames(), [])
        XCTAssertEqual(try next.withDatabase { try $0.meta().lastUsn }, 1)
        next.close()
    }

    func testRowsLastOnlyUntilALaterFlushMadeTheirMovesDurable() throws {
        let media = MediaService(folder: folder)
        try upload(media, ["a.txt": "a", "b.txt": "b"])
        XCTAssertEqual(try pendingMoves(media).map(\.usn), [1, 2], "not yet known to be durable")
        try upload(media, ["c.txt": "c"])
        XCTAssertEqual(try pendingMoves(media).map(\.usn), [3], "the second upload's flush covered the first's moves")
        XCTAssertEqual(try mediaFiles(), ["a.txt": "a", "b.txt": "b", "c.txt": "c"])
        media.close()
    }

    func testOlderServersUsnNamedStagingFilesAreStillFinished() throws {
        let media = MediaService(folder: folder)
        try upload(media, ["a.txt": "a"])
        _ = try media.withDatabase { db in
            try db.apply([.addOrReplace(name: "b.txt", sha1: MediaHasher.sha1(Array("b".utf8)), size: 1)], now: 1)
        }
        XCTAssertTrue(FileManager.default.createFile(atPath: folder + "/.media-staging/u2", contents: Data("b".utf8)))
        media.close()

        let next = MediaService(folder: folder)
        try next.ensureReady()
        XCTAssertEqual(try mediaFiles(), ["a.txt": "a", "b.txt": "b"])
        XCTAssertEqual(try stagingNames(), [])
        next.close()
    }
}
