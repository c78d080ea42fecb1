import Glibc
import Shared

/// `user add|passwd|remove NAME`, `user list` and `hash-password`: edit the env file the server
/// reads (never argv for passwords), then ask the running server to reload it.
enum UserCommands {
    enum Action: Equatable {
        case add(String), passwd(String), remove(String), list
    }

    static func run(_ action: Action, envFile: String?, hashExisting: Bool) -> Int32 {
        guard let envFile else {
            complain("user commands edit the server's env file: give it with --env-file FILE (e.g. /etc/anki-sync-server/env)")
            return 2
        }
        do {
            if action == .list { return try list(envFile) }
            let message = try EnvFileStore.locked(envFile) { () throws(AdminError) -> String in
                var file = try UserListFile(text: try EnvFileStore.read(envFile), path: envFile)
                let message = try apply(action, to: &file, path: envFile, hashExisting: hashExisting)
                let text = file.rendered()
                // The result must be a configuration the server accepts before it replaces the file.
                do { _ = try ServerConfig.load(environment: try EnvironmentFile.parse(text)) } catch {
                    throw AdminError("refusing to write \(envFile): the result would not load (\(error))")
                }
                try EnvFileStore.replace(envFile, with: text)
                return message
            }
            print(message)
        } catch {
            complain("\(error)")
            return 1
        }
        return reload(envFile)
    }

    static func hashPassword() -> Int32 {
        do {
            print(PHCHash.fresh(try PasswordInput.read(for: "the new hash")).phcString)
            return 0
        } catch {
            complain("\(error)")
            return 1
        }
    }

    private static func list(_ envFile: String) throws(AdminError) -> Int32 {
        let file = try UserListFile(text: try EnvFileStore.read(envFile), path: envFile)
        for user in file.users { print("\(user.name)\t\(file.hashed ? "hashed" : "plaintext")") }
        return 0
    }

    private static func apply(_ action: Action, to file: inout UserListFile, path: String,
                              hashExisting: Bool) throws(AdminError) -> String {
        let names = file.users.map(\.name)
        func index(of name: String) throws(AdminError) -> Int {
            guard let i = names.firstIndex(of: name) else {
                throw AdminError("no user '\(name)' in \(path) (users: \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
            }
            return i
        }
        switch action {
        case .list:
            return ""
        case .add(let name):
            try UserListFile.checkNewName(name)
            guard !names.contains(name) else { throw AdminError("user '\(name)' already exists in \(path); use 'user passwd \(name)'") }
            try switchToHashes(&file, path: path, hashExisting: hashExisting)
            file.users.append(.init(name: name, secret: PHCHash.fresh(try PasswordInput.read(for: name)).phcString))
            return "added \(name) to \(path)"
        case .passwd(let name):
            let i = try index(of: name)
            try switchToHashes(&file, path: path, hashExisting: hashExisting)
            file.users[i].secret = PHCHash.fresh(try PasswordInput.read(for: name)).phcString
            return "changed the password of \(name) in \(path) (their devices must log in again)"
        case .remove(let name):
            let i = try index(of: name)
            guard file.users.count > 1 else { throw AdminError("refusing: \(name) is the only user, and the server needs one") }
            file.users.remove(at: i)
            return "removed \(name) from \(path) (their folder stays in SYNC_BASE)"
        }
    }

    /// New entries are hashes, and PASSWORDS_HASHED applies to every entry: plaintext ones are
    /// converted only with the operator's consent (it changes those users' host keys).
    private static func switchToHashes(_ file: inout UserListFile, path: String, hashExisting: Bool) throws(AdminError) {
        guard !file.hashed else { return }
        if !file.users.isEmpty {
            guard hashExisting else {
                throw AdminError("\(path) has plaintext passwords; new entries are stored hashed, which needs PASSWORDS_HASHED=1 "
                    + "for every entry. Run again with --hash-existing to hash the \(file.users.count) existing password(s) "
                    + "too (passwords stay the same; those users' devices must log in again). Nothing was changed.")
            }
            for i in file.users.indices { file.users[i].secret = PHCHash.fresh(file.users[i].secret).phcString }
        }
        file.hashed = true
    }

    /// Asks the running server (if any) to re-read the file; the file is updated either way.
    private static func reload(_ envFile: String) -> Int32 {
        let invocation = Invocation(command: .reload, envFile: envFile)
        guard let env = try? invocation.environment() else { return 0 }
        let base = ServerConfig.baseDirectory(environment: env)
        do {
            let reply = try ControlEndpoint.request(ControlRequest(command: .reload), base: base)
            guard reply.ok else {
                complain("the file is updated, but the running server refused to reload it: \(reply.message)")
                return 1
            }
            print("server reloaded: \(reply.message)")
        } catch let error as SystemError where error.code == ENOENT || error.code == ECONNREFUSED {
            print("no server is running on SYNC_BASE=\(base); it will read the file when it starts")
        } catch {
            complain("the file is updated, but the server could not be asked to reload: \(ControlCommands.unreachable(base: base, error))")
            return 1
        }
        return 0
    }
}
