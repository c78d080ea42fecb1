/// An operator mistake or a failed edit in an admin command: one line saying what to do.
struct AdminError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
