import Shared

/// The schema-18 row forms of notetypes, decks and deck configs (COLLECTION.md §1.2, §2).
/// Blobs are the protobuf messages of §2.2, byte for byte.

public struct NotetypeRow: Equatable, Sendable {
    public var id: Int64
    public var name: String
    public var mtimeSecs: Int64
    public var usn: Int64
    /// `NotetypeConfig`
    public var config: [UInt8]
    /// In `ord` order.
    public var fields: [FieldRow]
    /// In `ord` order.
    public var templates: [TemplateRow]

    public init(id: Int64, name: String, mtimeSecs: Int64, usn: Int64, config: [UInt8], fields: [FieldRow], templates: [TemplateRow]) {
        self.id = id
        self.name = name
        self.mtimeSecs = mtimeSecs
        self.usn = usn
        self.config = config
        self.fields = fields
        self.templates = templates
    }
}

public struct FieldRow: Equatable, Sendable {
    public var ord: Int64
    public var name: String
    /// `FieldConfig`
    public var config: [UInt8]

    public init(ord: Int64, name: String, config: [UInt8]) {
        self.ord = ord
        self.name = name
        self.config = config
    }
}

public struct TemplateRow: Equatable, Sendable {
    public var ord: Int64
    public var name: String
    /// 0 for templates that arrived through sync (§3.1).
    public var mtimeSecs: Int64
    /// 0 for templates that arrived through sync (§3.1).
    public var usn: Int64
    /// `TemplateConfig`
    public var config: [UInt8]

    public init(ord: Int64, name: String, mtimeSecs: Int64, usn: Int64, config: [UInt8]) {
        self.ord = ord
        self.name = name
        self.mtimeSecs = mtimeSecs
        self.usn = usn
        self.config = config
    }
}

public struct DeckRow: Equatable, Sendable {
    public var id: Int64
    /// Native form: components joined by U+001F.
    public var name: String
    public var mtimeSecs: Int64
    public var usn: Int64
    /// `DeckCommon`
    public var common: [UInt8]
    /// `DeckKindContainer`
    public var kind: [UInt8]

    public init(id: Int64, name: String, mtimeSecs: Int64, usn: Int64, common: [UInt8], kind: [UInt8]) {
        self.id = id
        self.name = name
        self.mtimeSecs = mtimeSecs
        self.usn = usn
        self.common = common
        self.kind = kind
    }

    /// The `::`-joined name clients see.
    public var humanName: String { DeckCodec.humanName(fromNative: name) }
}

public struct DeckConfigRow: Equatable, Sendable {
    public var id: Int64
    public var name: String
    public var mtimeSecs: Int64
    public var usn: Int64
    /// `DeckConfigConfig`
    public var config: [UInt8]

    public init(id: Int64, name: String, mtimeSecs: Int64, usn: Int64, config: [UInt8]) {
        self.id = id
        self.name = name
        self.mtimeSecs = mtimeSecs
        self.usn = usn
        self.config = config
    }
}

/// A conversion failure: in the JSON → row direction these are the cases where the reference
/// rejects the whole request (HTTP 400); in the row → JSON direction, a corrupt blob.
public struct CodecError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
