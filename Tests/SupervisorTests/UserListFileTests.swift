import XCTest
@testable import Shared
@testable import Supervisor

/// The env-file model behind `user add|passwd|remove`: other lines kept, users renumbered in place.
final class UserListFileTests: XCTestCase {
    let path = "/etc/anki/env"

    func testRendersUsersWhereTheyStoodAndKeepsOtherLines() throws {
        let text = "# family\nSYNC_BASE=/srv/anki\nSYNC_USER1=alice:pa\nSYNC_PORT=8080\nSYNC_USER2=bob:pb\n"
        var file = try UserListFile(text: text, path: path)
        XCTAssertEqual(file.users.map(\.name), ["alice", "bob"])
        XCTAssertFalse(file.hashed)
        file.users.remove(at: 0)
        file.hashed = true
        XCTAssertEqual(file.rendered(), "# family\nSYNC_BASE=/srv/anki\nPASSWORDS_HASHED=1\nSYNC_USER1=bob:pb\nSYNC_PORT=8080\n")
    }

    func testExistingHashedLineIsKept() throws {
        var file = try UserListFile(text: "PASSWORDS_HASHED=yes\n", path: path)
        XCTAssertTrue(file.hashed)
        file.users.append(.init(name: "carol", secret: "$pbkdf2-sha256$x"))
        XCTAssertEqual(file.rendered(), "PASSWORDS_HASHED=yes\nSYNC_USER1=carol:$pbkdf2-sha256$x\n")
    }

    func testRefusesGapsInTheNumbering() {
        XCTAssertThrowsError(try UserListFile(text: "SYNC_USER1=a:1\nSYNC_USER3=c:3\n", path: path)) { error in
            XCTAssertTrue("\(error)".contains("SYNC_USER3 is ignored"), "\(error)")
        }
    }

    func testVariablesTheServerIgnoresAreKeptAsWritten() throws {
        var file = try UserListFile(text: "SYNC_USER0=z:0\nSYNC_USER01=y:1\nSYNC_USER1=a:1\n", path: path)
        XCTAssertEqual(file.users.map(\.name), ["a"])
        file.users[0].secret = "2"
        XCTAssertEqual(file.rendered(), "SYNC_USER0=z:0\nSYNC_USER01=y:1\nSYNC_USER1=a:2\n")
    }

    func testNewNamesMustSurviveEveryLoader() {
        for bad in ["", ".hidden", "a b", "quo\"te", "dol$lar", "co:lon", "sl/ash"] {
            XCTAssertThrowsError(try UserListFile.checkNewName(bad), bad)
        }
        XCTAssertNoThrow(try UserListFile.checkNewName("Anna-Lena_2"))
    }
}
