import Crypto
import EventoCore
import Foundation

/// JSON Web Tokens signed with HMAC-SHA-256 (`HS256`) under a shared secret (`EVENTO_JWT_SECRET`):
/// short-lived tokens a service of the operator's issues, with the scope in the `scope` claim.
///
/// Written here rather than taken from a JWT library because one algorithm needs only HMAC (swift-crypto,
/// already a dependency) and a strict reading: the header's `alg` must be exactly `HS256` (never `none`,
/// never another algorithm, whatever the token says), `crit` is refused, `exp` is required, `nbf` is
/// honoured, `iss` and `aud` must match when configured; the signature is checked in constant time before
/// the claims are read. The scope is the largest of `read`, `write`, `admin` in the space-separated
/// `scope` claim (OAuth 2.0's form).
public struct JWTVerifier: Sendable {
    public struct Configuration: Sendable {
        public var secret: [UInt8]
        /// When set, the token's `iss` must be this.
        public var issuer: String?
        /// When set, the token's `aud` (a string or a list) must contain this.
        public var audience: String?
        /// Clock skew allowed on `exp` and `nbf`.
        public var leeway: Duration = .seconds(30)

        public init(secret: [UInt8], issuer: String? = nil, audience: String? = nil) {
            self.secret = secret
            self.issuer = issuer
            self.audience = audience
        }
    }

    /// Why a token is refused; the text never contains the token or its claims' values.
    struct Refusal: Error, Equatable {
        var reason: String
    }

    let configuration: Configuration
    private let key: SymmetricKey

    public init(_ configuration: Configuration) throws(EventoError) {
        guard configuration.secret.count >= 32 else {
            throw EventoError(.invalidRequest, "EVENTO_JWT_SECRET: at least 32 bytes (HS256 keys shorter than the hash are guessable)")
        }
        self.configuration = configuration
        key = SymmetricKey(data: configuration.secret)
    }

    /// Whether the text has a JWT's shape (three base64url parts), so it is worth verifying.
    static func looksLikeJWT(_ token: some Collection<UInt8>) -> Bool {
        token.lazy.filter { $0 == UInt8(ascii: ".") }.count == 2
    }

    /// The token's scope, or why it is refused.
    func scope(of token: some Collection<UInt8>, now: Date = Date()) -> Result<AccessScope, Refusal> {
        let parts = Array(token).split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Self.json(parts[0]), let signature = Self.base64URL(parts[2]) else {
            return .failure(Refusal(reason: "the bearer token is not a well-formed JWT"))
        }
        guard header["alg"]?.stringValue == "HS256" else { return .failure(Refusal(reason: "the JWT's algorithm is not HS256")) }
        guard header["crit"] == nil else { return .failure(Refusal(reason: "the JWT has critical header parameters")) }
        let signed = Array(parts[0]) + [UInt8(ascii: ".")] + Array(parts[1])
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signed, using: key) else {
            return .failure(Refusal(reason: "the JWT's signature is not valid"))
        }
        // The claims are read only once they are known to come from the key's holder.
        guard let payload = Self.json(parts[1]) else { return .failure(Refusal(reason: "the JWT's claims are not a JSON object")) }
        let t = now.timeIntervalSince1970
        let leeway = Double(configuration.leeway.components.seconds)
        guard let exp = Self.seconds(payload["exp"]) else { return .failure(Refusal(reason: "the JWT has no exp claim")) }
        guard t < exp + leeway else { return .failure(Refusal(reason: "the JWT has expired")) }
        if let nbfValue = payload["nbf"] {
            guard let nbf = Self.seconds(nbfValue) else { return .failure(Refusal(reason: "the JWT's nbf claim is not a number")) }
            guard t >= nbf - leeway else { return .failure(Refusal(reason: "the JWT is not valid yet (nbf)")) }
        }
        if let issuer = configuration.issuer, payload["iss"]?.stringValue != issuer {
            return .failure(Refusal(reason: "the JWT's issuer is not this server's (iss)"))
        }
        if let audience = configuration.audience {
            let aud = payload["aud"]
            let audiences = aud?.stringValue.map { [$0] } ?? aud?.arrayValue?.compactMap(\.stringValue) ?? []
            guard audiences.contains(audience) else { return .failure(Refusal(reason: "the JWT is not meant for this server (aud)")) }
        }
        let scopes = (payload["scope"]?.stringValue ?? "").split(separator: " ").compactMap { AccessScope(name: String($0)) }
        guard let scope = scopes.max() else { return .failure(Refusal(reason: "the JWT's scope claim names none of read, write, admin")) }
        return .success(scope)
    }

    private static func seconds(_ value: JSONValue?) -> Double? {
        switch value {
        case .int(let i): Double(i)
        case .double(let d) where d.isFinite: d
        default: nil
        }
    }

    private static func json(_ part: ArraySlice<UInt8>) -> JSONValue? {
        guard let bytes = base64URL(part), let value = try? JSONParser.parse(bytes), value.objectValue != nil else { return nil }
        return value
    }

    /// Base64url without padding (RFC 7515 §2); nil for anything else.
    static func base64URL(_ part: ArraySlice<UInt8>) -> [UInt8]? {
        guard !part.isEmpty, part.count % 4 != 1 else { return nil }
        var text = [UInt8]()
        text.reserveCapacity(part.count + 3)
        for c in part {
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): text.append(c)
            case UInt8(ascii: "-"): text.append(UInt8(ascii: "+"))
            case UInt8(ascii: "_"): text.append(UInt8(ascii: "/"))
            default: return nil
            }
        }
        while text.count % 4 != 0 { text.append(UInt8(ascii: "=")) }
        return Data(base64Encoded: Data(text)).map(Array.init)
    }
}
