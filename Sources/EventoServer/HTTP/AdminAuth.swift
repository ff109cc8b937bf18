import EventoCore
import HTTPTypes
import Hummingbird

/// The admin token: with one configured (`EVENTO_ADMIN_TOKEN`), every request that changes state needs
/// `Authorization: Bearer <token>`: registering a function runs code on the host, and events, commands,
/// schemas and configuration are the system's state. Reads stay open, except the administration reads
/// (function definitions, dead letters) that always needed it. Enforced for every route by
/// `AdminAuthMiddleware`, so a route added later cannot forget it.
struct AdminAuth: Sendable {
    let token: String?

    /// Whether a request needs the token (when one is configured): every method but GET, HEAD and
    /// OPTIONS, and reads under `/functions` and `/dead-letters`.
    static func needsToken(method: HTTPRequest.Method, path: String) -> Bool {
        switch method {
        case .get, .head:
            return path == "/functions" || path.hasPrefix("/functions/") || path == "/dead-letters" || path.hasPrefix("/dead-letters/")
        case .options:
            return false
        default:
            return true
        }
    }

    /// Why the request is refused (a 401), or nil.
    func refusal(_ request: Request) -> Problem? {
        guard let token, Self.needsToken(method: request.method, path: request.uri.path) else { return nil }
        let given = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        if given.hasPrefix(prefix), constantTimeEqual(String(given.dropFirst(prefix.count)), token) { return nil }
        let what = request.method == .get || request.method == .head ? "" : " changes state and"
        var problem = Problem(
            EventoError(.unauthorized, "\(request.method) \(request.uri.path)\(what) needs the admin token: Authorization: Bearer <EVENTO_ADMIN_TOKEN>"))
        problem.headers[.wwwAuthenticate] = "Bearer"
        return problem
    }

    private func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var diff = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return diff == 0
    }
}

/// Applies `AdminAuth` to every request, before any route runs.
struct AdminAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let auth: AdminAuth

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let refusal = auth.refusal(request) { throw refusal }
        return try await next(request, context)
    }
}
