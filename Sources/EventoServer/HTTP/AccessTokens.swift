import Crypto
import EventoCore

/// The bearer tokens a server accepts, each with its scope (`EVENTO_TOKENS`, `--tokens-file`,
/// `EVENTO_ADMIN_TOKEN`).
///
/// Only the SHA-256 of each token is kept. A presented token is hashed and compared with every entry in
/// constant time, without stopping at the first match, so the time an answer takes says nothing about how
/// much of a token was right. Errors name the place of a bad entry (its source and line), never the token.
public struct AccessTokens: Sendable {
    struct Entry: Sendable {
        var digest: [UInt8]
        var scope: AccessScope
        var source: String
    }

    private(set) var entries: [Entry] = []

    public init() {}

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    /// The number of tokens of each scope (what the server logs at start).
    public var summary: String {
        AccessScope.allCases.reversed().map { s in "\(entries.filter { $0.scope == s }.count) \(s)" }.joined(separator: ", ")
    }

    /// Adds a token. The same token twice with the same scope is one token; with two scopes it is a
    /// mistake (which did the operator mean?), refused naming both places.
    public mutating func add(_ token: String, scope: AccessScope, source: String) throws(EventoError) {
        guard !token.isEmpty else { throw EventoError(.invalidRequest, "\(source): the token is empty") }
        // RFC 6750's token characters and more, but nothing a header or a list would split or trim.
        guard token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ",") }) else {
            throw EventoError(.invalidRequest, "\(source): a token is visible ASCII without spaces or commas")
        }
        let digest = Self.digest(token.utf8)
        if let same = entries.first(where: { Self.constantTimeEqual($0.digest, digest) }) {
            guard same.scope == scope else {
                throw EventoError(.invalidRequest, "\(source): the same token is already listed with the \(same.scope) scope (\(same.source))")
            }
            return
        }
        entries.append(Entry(digest: digest, scope: scope, source: source))
    }

    /// Adds every token of another set.
    public mutating func add(_ other: AccessTokens) throws(EventoError) {
        for e in other.entries {
            if let same = entries.first(where: { Self.constantTimeEqual($0.digest, e.digest) }) {
                guard same.scope == e.scope else {
                    throw EventoError(.invalidRequest, "\(e.source): the same token is already listed with the \(same.scope) scope (\(same.source))")
                }
                continue
            }
            entries.append(e)
        }
    }

    /// `scope:token` entries separated by commas, as in `EVENTO_TOKENS="read:abc,admin:def"`.
    public static func parse(list: String, source: String = "EVENTO_TOKENS") throws(EventoError) -> AccessTokens {
        var tokens = AccessTokens()
        for (i, item) in list.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            let entry = item.trimmingASCIISpaces()
            if entry.isEmpty { continue }
            try tokens.add(entry: entry, source: "\(source) entry \(i + 1)")
        }
        return tokens
    }

    /// A tokens file: one `scope:token` a line (LF or CRLF); blank lines and lines starting with `#` are
    /// skipped.
    public static func parse(file contents: String, path: String) throws(EventoError) -> AccessTokens {
        var tokens = AccessTokens()
        for (i, line) in contents.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let entry = line.trimmingASCIISpaces()
            if entry.isEmpty || entry.hasPrefix("#") { continue }
            try tokens.add(entry: entry, source: "\(path) line \(i + 1)")
        }
        return tokens
    }

    private mutating func add(entry: Substring, source: String) throws(EventoError) {
        guard let colon = entry.firstIndex(of: ":") else {
            throw EventoError(.invalidRequest, "\(source): expected scope:token (read, write or admin)")
        }
        let name = entry[..<colon].trimmingASCIISpaces()
        guard let scope = AccessScope(name: String(name)) else {
            // The scope part is not secret; the token part is never echoed.
            throw EventoError(.invalidRequest, "\(source): unknown scope \"\(name.prefix(20))\"; expected read, write or admin")
        }
        try add(String(entry[entry.index(after: colon)...].trimmingASCIISpaces()), scope: scope, source: source)
    }

    /// The scope of a presented token, or nil when it is none of these. Every entry is compared, in
    /// constant time, whatever matched before.
    func scope(of token: some Collection<UInt8>) -> AccessScope? {
        let digest = Self.digest(token)
        var found = 0
        for e in entries {
            let match = Self.constantTimeEqual(e.digest, digest)
            // Entries hold distinct tokens: at most one matches.
            found |= e.scope.rawValue & (match ? ~0 : 0)
        }
        return AccessScope(rawValue: found)
    }

    static func digest(_ bytes: some Collection<UInt8>) -> [UInt8] { Array(SHA256.hash(data: Array(bytes))) }

    /// Whether two byte strings are equal, in a time that depends only on their lengths: every byte is
    /// looked at, differences are or-ed together, nothing returns early.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}

extension Substring {
    fileprivate func trimmingASCIISpaces() -> Substring {
        let s = self
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let start = s.firstIndex(where: { !isSpace($0) }) else { return s[s.endIndex...] }
        let end = s.lastIndex(where: { !isSpace($0) })!
        return s[start...end]
    }
}
