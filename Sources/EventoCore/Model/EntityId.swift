/// The identity of one aggregate instance: `AGGREGATE:ID`, e.g. `checking:6789-21`.
///
/// The aggregate part names the aggregate type (and its Avro schema namespace), so it follows Avro's name
/// rules; the id part is any non-empty text without whitespace or control characters.
public struct EntityId: Sendable, Hashable, CustomStringConvertible, Comparable {
    public let aggregate: String
    public let id: String
    public let rawValue: String

    /// Longest accepted entity id, in UTF-8 bytes.
    public static let maxLength = 256

    public init(aggregate: String, id: String) throws(EntityIdError) {
        try self.init(parsing: aggregate + ":" + id)
    }

    public init(parsing text: String) throws(EntityIdError) {
        guard !text.isEmpty else { throw EntityIdError(text: text, reason: "is empty") }
        guard text.utf8.count <= Self.maxLength else {
            throw EntityIdError(text: text, reason: "is longer than \(Self.maxLength) bytes")
        }
        guard let colon = text.firstIndex(of: ":") else {
            throw EntityIdError(text: text, reason: "has no ':' between aggregate and id")
        }
        let aggregate = String(text[..<colon])
        let id = String(text[text.index(after: colon)...])
        guard Names.isAvroName(aggregate) else {
            throw EntityIdError(
                text: text,
                reason: "has aggregate \"\(aggregate)\", which is not a name ([A-Za-z_][A-Za-z0-9_]*)"
            )
        }
        guard !id.isEmpty else { throw EntityIdError(text: text, reason: "has an empty id after ':'") }
        if Names.hasWhitespaceOrControl(id) {
            throw EntityIdError(text: text, reason: "contains whitespace or a control character in its id")
        }
        self.aggregate = aggregate
        self.id = id
        self.rawValue = text
    }

    public var description: String { rawValue }
    public static func < (a: EntityId, b: EntityId) -> Bool { a.rawValue < b.rawValue }
}

public struct EntityIdError: Error, Sendable, CustomStringConvertible {
    public var text: String
    public var reason: String
    public var description: String { "entity id \"\(text)\" \(reason); expected AGGREGATE:ID, e.g. checking:6789-21" }
}

/// Name rules shared by aggregates, event and command types.
public enum Names {
    /// An Avro name: `[A-Za-z_][A-Za-z0-9_]*`.
    public static func isAvroName(_ s: String) -> Bool {
        guard let first = s.utf8.first else { return false }
        guard isLetterOrUnderscore(first) else { return false }
        for b in s.utf8.dropFirst() where !(isLetterOrUnderscore(b) || (b >= 0x30 && b <= 0x39)) { return false }
        return true
    }

    private static func isLetterOrUnderscore(_ b: UInt8) -> Bool {
        (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
    }

    /// Client-given ids (events, commands, causes): 1...200 printable ASCII-or-Unicode characters, no whitespace.
    public static func validateId(_ s: String) -> String? {
        if s.isEmpty { return "is empty" }
        if s.utf8.count > 200 { return "is longer than 200 bytes" }
        if hasWhitespaceOrControl(s) { return "contains whitespace or a control character" }
        return nil
    }

    /// Whether `s` holds whitespace or a control character. ASCII is checked by byte (the Unicode
    /// property lookup is the slow path, taken only for the rare non-ASCII id).
    static func hasWhitespaceOrControl(_ s: String) -> Bool {
        var ascii = true
        for b in s.utf8 {
            if b >= 0x80 {
                ascii = false
            } else if b < 0x21 || b == 0x7F {
                return true
            }
        }
        if ascii { return false }
        return s.unicodeScalars.contains { $0.value < 0x21 || $0.value == 0x7F || ($0.value >= 0x80 && ($0.properties.isWhitespace || $0.value < 0xA0)) }
    }
}

extension EntityId {
    /// An id read back from the store, which only ever holds validated ids.
    public init(stored text: String) {
        // Validated when it was stored: only split it.
        if let colon = text.utf8.firstIndex(of: UInt8(ascii: ":")) {
            self.aggregate = String(text[..<colon])
            self.id = String(text[text.index(after: colon)...])
        } else {
            self.aggregate = text
            self.id = ""
        }
        self.rawValue = text
    }
}
