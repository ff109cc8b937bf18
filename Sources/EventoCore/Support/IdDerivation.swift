import Crypto

/// Derives the ids Evento gives to what it creates from something else: a dispatcher's commands (from the
/// event id and the dispatcher), dead dispatches.
///
/// Derived ids must be deterministic (a step redone after a crash writes the same ids, so it adds nothing)
/// and must not be guessable from outside: an id a client can compute is an id a client can take first
/// with `POST /events` or `POST /commands`, squatting the slot the pipeline would write. So they are an
/// HMAC-SHA-256 under a secret key the store generates once and keeps, shaped as a UUIDv8 (RFC 9562).
public struct IdDerivation: Sendable {
    private let key: SymmetricKey

    /// - Parameter key: the store's secret (at least 16 bytes).
    public init(key: [UInt8]) {
        precondition(key.count >= 16, "an id derivation key needs at least 16 bytes")
        self.key = SymmetricKey(data: key)
    }

    /// A UUIDv8 from the parts; the same parts under the same key always give the same id.
    public func id(_ parts: String...) -> String { id(parts) }

    public func id(_ parts: [String]) -> String {
        var message: [UInt8] = []
        for (i, p) in parts.enumerated() {
            if i > 0 { message.append(0) }
            message.append(contentsOf: p.utf8)
        }
        var bytes = Array(HMAC<SHA256>.authenticationCode(for: message, using: key).prefix(16))
        bytes[6] = 0x80 | (bytes[6] & 0x0F)  // version 8
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // RFC 9562 variant
        return Identifiers.uuidText(bytes)
    }

    /// The id of a dispatcher's `index`th command for an event.
    public func commandId(event: String, dispatcher: String, index: Int) -> String { id(event, dispatcher, String(index)) }

    /// A new random key for a new store.
    public static func newKey() -> [UInt8] { Identifiers.randomBytes(32) }
}

extension Identifiers {
    /// Lowercase hex of the SHA-256 of `bytes` (content hashes: schema files, container specs).
    public static func sha256Hex(_ bytes: some Sequence<UInt8>) -> String {
        hex(SHA256.hash(data: Array(bytes)))
    }
}
