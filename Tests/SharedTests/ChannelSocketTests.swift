import CShim
import Foundation
import Glibc
import XCTest
@testable import Shared

final class ChannelSocketTests: XCTestCase {
    var toClose: [Int32] = []

    override func tearDown() {
        for fd in toClose { close(fd) }
        toClose = []
        super.tearDown()
    }

    func makePair() throws -> (ChannelSocket, ChannelSocket) {
        let (a, b) = try ChannelSocket.pair()
        toClose += [a.fd, b.fd]
        return (a, b)
    }

    func makePipe() -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        XCTAssertEqual(pipe(&fds), 0)
        toClose += fds
        return (fds[0], fds[1])
    }

    func closeTracked(_ fd: Int32) {
        close(fd)
        toClose.removeAll { $0 == fd }
    }

    func setNonBlocking(_ fd: Int32) {
        XCTAssertEqual(cshim_set_nonblocking(fd, 1), 0)
    }

    func receive(_ socket: ChannelSocket, file: StaticString = #filePath, line: UInt = #line) throws -> (ChannelMessage, Int32)? {
        switch try socket.receive() {
        case .message(let m, let fd):
            if fd >= 0 { toClose.append(fd) }
            return (m, fd)
        case .wouldBlock:
            XCTFail("wouldBlock", file: file, line: line)
        case .closed:
            XCTFail("closed", file: file, line: line)
        }
        return nil
    }

    func isCloseOnExec(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) & FD_CLOEXEC != 0 }

    func testPairIsCloseOnExec() throws {
        let (a, b) = try makePair()
        XCTAssertTrue(isCloseOnExec(a.fd))
        XCTAssertTrue(isCloseOnExec(b.fd))
        var type: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        XCTAssertEqual(getsockopt(a.fd, SOL_SOCKET, SO_TYPE, &type, &len), 0)
        XCTAssertEqual(type, Int32(SOCK_SEQPACKET.rawValue))
    }

    func testPassDescriptorAndUseIt() throws {
        let (a, b) = try makePair()
        let p = makePipe()
        let message = ChannelMessage.connection(id: 77, prefix: Array("POST /sync/meta HTTP/1.1\r\n".utf8))
        XCTAssertEqual(try a.send(message, passing: p.write), .sent)
        // The sender's copy can go; the receiver holds its own.
        closeTracked(p.write)

        guard let r = try receive(b) else { return }
        let (received, fd) = r
        XCTAssertEqual(received, message)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertNotEqual(fd, p.read)
        XCTAssertTrue(isCloseOnExec(fd), "received descriptors are close-on-exec")

        let text = Array("through the passed descriptor".utf8)
        XCTAssertEqual(text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, text.count)
        closeTracked(fd)
        var buffer = [UInt8](repeating: 0, count: 100)
        let n = buffer.withUnsafeMutableBytes { read(p.read, $0.baseAddress, $0.count) }
        XCTAssertEqual(Array(buffer[0..<max(n, 0)]), text)
        // Every write end is closed now: end of file.
        XCTAssertEqual(buffer.withUnsafeMutableBytes { read(p.read, $0.baseAddress, $0.count) }, 0)
    }

    func testMessageWithoutDescriptor() throws {
        let (a, b) = try makePair()
        XCTAssertEqual(try a.send(.shutdown(reason: "bye")), .sent)
        guard let r = try receive(b) else { return }
        let (received, fd) = r
        XCTAssertEqual(received, .shutdown(reason: "bye"))
        XCTAssertEqual(fd, -1)
    }

    func testBothDirections() throws {
        let (a, b) = try makePair()
        XCTAssertEqual(try b.send(.stats(WorkerStats(requestsServed: 3))), .sent)
        XCTAssertEqual(try receive(a)?.0, .stats(WorkerStats(requestsServed: 3)))
        XCTAssertEqual(try a.send(.shutdown(reason: "x")), .sent)
        XCTAssertEqual(try receive(b)?.0, .shutdown(reason: "x"))
    }

    func testMessageBoundariesKept() throws {
        let (a, b) = try makePair()
        let first = ChannelMessage.connection(id: 1, prefix: Array("first".utf8))
        let second = ChannelMessage.connectionBack(id: 2, leftover: Array("second, longer message".utf8))
        let p = makePipe()
        XCTAssertEqual(try a.send(first), .sent)
        XCTAssertEqual(try a.send(second, passing: p.read), .sent)
        guard let r1 = try receive(b), let r2 = try receive(b) else { return }
        XCTAssertEqual(r1.0, first)
        XCTAssertEqual(r1.1, -1, "the descriptor belongs to the second message only")
        XCTAssertEqual(r2.0, second)
        XCTAssertGreaterThanOrEqual(r2.1, 0)
        setNonBlocking(b.fd)
        guard case .wouldBlock = try b.receive() else { return XCTFail("expected nothing more") }
    }

    func testLargestMessageArrivesWhole() throws {
        let (a, b) = try makePair()
        let prefix = pseudoRandomBytes(ChannelMessage.maxSize - 10)
        let message = ChannelMessage.connection(id: 3, prefix: prefix)
        XCTAssertEqual(message.encode().count, ChannelMessage.maxSize)
        XCTAssertEqual(try a.send(message), .sent)
        XCTAssertEqual(try receive(b)?.0, message)
    }

    func testTooLargeMessageRefused() throws {
        let (a, _) = try makePair()
        let message = ChannelMessage.connection(id: 3, prefix: [UInt8](repeating: 1, count: ChannelMessage.maxSize))
        XCTAssertThrowsError(try a.send(message)) { error in
            XCTAssertEqual((error as? SystemError)?.code, EMSGSIZE)
        }
    }

    func testWouldBlockOnEmptyNonBlockingSocket() throws {
        let (_, b) = try makePair()
        setNonBlocking(b.fd)
        guard case .wouldBlock = try b.receive() else { return XCTFail("expected wouldBlock") }
    }

    func testWouldBlockWhenSendBufferFull() throws {
        let (a, _) = try makePair()
        setNonBlocking(a.fd)
        let message = ChannelMessage.connection(id: 1, prefix: [UInt8](repeating: 7, count: 100_000))
        var result = ChannelSocket.SendResult.sent
        var sent = 0
        while result == .sent, sent < 10_000 {
            result = try a.send(message)
            sent += 1
        }
        XCTAssertEqual(result, .wouldBlock)
        XCTAssertGreaterThan(sent, 1)
    }

    func testClosedAfterPeerCloses() throws {
        let (a, b) = try makePair()
        XCTAssertEqual(try a.send(.shutdown(reason: "last")), .sent)
        closeTracked(a.fd)
        // Queued messages still arrive, then the end.
        XCTAssertEqual(try receive(b)?.0, .shutdown(reason: "last"))
        guard case .closed = try b.receive() else { return XCTFail("expected closed") }
        // Sending to a closed peer reports .closed and does not raise SIGPIPE.
        XCTAssertEqual(try b.send(.shutdown(reason: "anyone?")), .closed)
    }

    func testMalformedMessageClosesPassedDescriptor() throws {
        let (a, b) = try makePair()
        let p = makePipe()
        let garbage: [UInt8] = [9, 9, 9]
        XCTAssertEqual(garbage.withUnsafeBytes { cshim_send_fd(a.fd, p.write, $0.baseAddress, $0.count) }, 3)
        closeTracked(p.write)
        XCTAssertThrowsError(try b.receive()) { XCTAssertTrue($0 is ChannelMessage.DecodeError, "\($0)") }
        // The receiver closed its copy: with no write end left, the read end sees end of file.
        setNonBlocking(p.read)
        var byte: UInt8 = 0
        XCTAssertEqual(read(p.read, &byte, 1), 0)
    }
}
