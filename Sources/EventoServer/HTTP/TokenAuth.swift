import EventoCore
import HTTPTypes
import Hummingbird

/// Bearer tokens with scopes: with any token configured (`EVENTO_TOKENS`, `--tokens-file`,
/// `EVENTO_ADMIN_TOKEN`), every request but the few open ones (`AccessScope.required`) needs
/// `Authorization: Bearer TOKEN` with a scope at least the one its route needs:
/// - no token, or one the server does not know: 401 with `WWW-Authenticate: Bearer`;
/// - a known token of too small a scope: 403 naming the scope needed.
/// Without any token configured everything passes, as before scoped tokens existed (the access policy still
/// applies, and such a server binds loopback only). Enforced for every route by `TokenAuthMiddleware`, so a
/// route added later cannot forget it. No answer and no log line contains a token.
struct TokenAuth: Sendable {
    let tokens: AccessTokens
    /// JWTs (HS256) accepted beside the static tokens, when a secret is configured.
    var jwt: JWTVerifier? = nil

    /// Whether any token is configured (without one, every request passes).
    var isConfigured: Bool { !tokens.isEmpty || jwt != nil }

    /// Why the request is refused (a 401 or a 403), or nil.
    func refusal(_ request: Request) -> Problem? {
        guard isConfigured, let needed = AccessScope.required(method: request.method, path: request.uri.path) else { return nil }
        let route = "\(request.method) \(request.uri.path)"
        let values = request.headers[values: .authorization]
        guard values.count == 1, let presented = Self.bearer(values[0]) else {
            let why = values.count > 1 ? "has more than one Authorization header" : "needs a token with the \(needed) scope"
            return Self.unauthorized("\(route) \(why): Authorization: Bearer TOKEN", challenge: "Bearer")
        }
        let invalid = #"Bearer error="invalid_token""#
        let scope: AccessScope
        if let known = tokens.scope(of: presented) {
            scope = known
        } else if let jwt, JWTVerifier.looksLikeJWT(presented) {
            switch jwt.scope(of: presented) {
            case .success(let s): scope = s
            case .failure(let refusal): return Self.unauthorized("\(route): \(refusal.reason)", challenge: invalid)
            }
        } else {
            return Self.unauthorized("\(route): the bearer token is not one of this server's tokens", challenge: invalid)
        }
        guard scope >= needed else {
            var problem = Problem(
                EventoError(
                    .forbidden, "\(route) needs the \(needed) scope; the token given has the \(scope) scope", field: "Authorization",
                    extensions: ["scope": .string(needed.description)]))
            problem.headers[.wwwAuthenticate] = #"Bearer error="insufficient_scope", scope="\#(needed)""#
            return problem
        }
        return nil
    }

    /// The token of `Bearer TOKEN` (the scheme is case-insensitive), as bytes; nil for another scheme.
    static func bearer(_ value: String) -> Substring.UTF8View? {
        let v = value.utf8
        guard v.count > 7, String(decoding: v.prefix(7), as: UTF8.self).lowercased() == "bearer " else { return nil }
        let token = value.dropFirst(7).drop { $0 == " " }
        return token.isEmpty ? nil : token.utf8
    }

    private static func unauthorized(_ detail: String, challenge: String) -> Problem {
        var problem = Problem(EventoError(.unauthorized, detail))
        problem.headers[.wwwAuthenticate] = challenge
        return problem
    }
}

/// Applies `TokenAuth` to every request, before any route runs.
struct TokenAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let auth: TokenAuth

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let refusal = auth.refusal(request) { throw refusal }
        return try await next(request, context)
    }
}
