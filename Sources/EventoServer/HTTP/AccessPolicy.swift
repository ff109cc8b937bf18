import EventoCore
import HTTPTypes
import Hummingbird

/// Which `Host` and `Origin` headers the server answers.
///
/// Two attacks reach a server on 127.0.0.1 from a browser on this machine: a page of another site posting
/// to it (the browser sends `Origin: http://evil.example`), and DNS rebinding (a name of the attacker's
/// that resolves to 127.0.0.1, so the browser calls it same-origin and sends `Host: evil.example:8080`).
/// Registering a function runs a program, so both are refused:
/// - `Host` must name this server: the bound address (with `localhost`, `127.0.0.1` and `::1` when it is
///   loopback) and the port the request came in on, or an entry of `--allowed-hosts`. Bound to the
///   any-address (`0.0.0.0`, `::`) with an admin token, any host is accepted unless the list is set.
/// - `Origin`, when present, must be the server itself (an `http` origin whose host passes the check
///   above) or an entry of `--allowed-origins`; those get CORS headers.
/// A request without `Host` (HTTP/1.0) or without `Origin` (not from a browser's script) passes.
struct AccessPolicy: Sendable {
    var bindHost: String
    var hasToken: Bool
    /// `host` (any port) or `host:port` entries, `*` for any; nil: the bound address (see above).
    var allowedHosts: [String]?
    /// Exact origins (`https://ui.example:3000`), `*` for any.
    var allowedOrigins: [String] = []

    init(bindHost: String, hasToken: Bool, allowedHosts: [String]? = nil, allowedOrigins: [String] = []) {
        self.bindHost = bindHost
        self.hasToken = hasToken
        self.allowedHosts = allowedHosts
        self.allowedOrigins = allowedOrigins
    }

    /// Whether the default lets any `Host` through.
    private var anyHost: Bool {
        if let allowedHosts { return allowedHosts.contains("*") }
        return NetworkAddress.isWildcard(bindHost)
    }

    /// Why the request is refused (a 403 naming the header), or nil.
    func refusal(host: String?, origin: String?, localPort: Int?) -> EventoError? {
        if let host, !hostAllowed(host, localPort: localPort) {
            return EventoError(
                .forbidden, "Host \(Self.excerpt(host)) is not an address of this server: list the names clients use in --allowed-hosts",
                field: "Host")
        }
        if let origin, !isListed(origin), !isSelf(origin, host: host, localPort: localPort) {
            return EventoError(
                .forbidden,
                "Origin \(Self.excerpt(origin)) is not allowed: this server takes requests from other sites only when they are listed in --allowed-origins",
                field: "Origin")
        }
        return nil
    }

    /// Whether the origin is one of `--allowed-origins` (such requests get CORS headers).
    func isListed(_ origin: String) -> Bool {
        let o = Self.trimmed(origin)
        return allowedOrigins.contains { $0 == "*" || Self.trimmed($0) == o }
    }

    func hostAllowed(_ host: String, localPort: Int?) -> Bool {
        if anyHost { return true }
        guard let (name, port) = NetworkAddress.authority(host) else { return false }
        return authorityAllowed(name: name, port: port, localPort: localPort)
    }

    /// A parsed host (lower-cased, unbracketed) and port against the list or the bound address.
    private func authorityAllowed(name: String, port: Int?, localPort: Int?) -> Bool {
        let effectivePort = port ?? 80
        if let allowedHosts {
            return allowedHosts.contains { entry in
                guard let (allowedName, allowedPort) = NetworkAddress.authority(entry) else { return false }
                return allowedName == name && (allowedPort == nil || allowedPort == effectivePort)
            }
        }
        var names: Set<String> = [NetworkAddress.unbracketed(bindHost).lowercased()]
        if NetworkAddress.isLoopback(bindHost) { names.formUnion(["localhost", "127.0.0.1", "::1"]) }
        guard names.contains(name) else { return false }
        return localPort == nil || localPort == effectivePort
    }

    /// A page of the server itself: `http://` and a host that passes the Host check. When any host passes,
    /// the origin must be the request's own `Host` (same-origin as the browser sees it).
    private func isSelf(_ origin: String, host: String?, localPort: Int?) -> Bool {
        let o = Self.trimmed(origin)
        guard o.hasPrefix("http://"), let (name, port) = NetworkAddress.authority(String(o.dropFirst("http://".count))) else { return false }
        if anyHost {
            guard let host, let (hostName, hostPort) = NetworkAddress.authority(host) else { return false }
            return hostName == name && (hostPort ?? 80) == (port ?? 80)
        }
        return authorityAllowed(name: name, port: port, localPort: localPort)
    }

    private static func trimmed(_ origin: String) -> String {
        var o = origin.lowercased()
        while o.hasSuffix("/") { o.removeLast() }
        return o
    }

    private static func excerpt(_ s: String) -> String { s.count > 200 ? String(s.prefix(200)) + "…" : s }
}

/// Applies `AccessPolicy` to every request, and answers CORS for `--allowed-origins`.
///
/// It sits outside `ProblemMiddleware`, so it sees every response (problems included) and can give the
/// listed origins their CORS headers; its own refusals it renders itself.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = EventoRequestContext
    let policy: AccessPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let origins = request.headers[values: .origin]
        if origins.count > 1 {
            return try refuse(EventoError(.forbidden, "more than one Origin header", field: "Origin"), request, context)
        }
        let origin = origins.first
        if let refusal = policy.refusal(host: request.head.authority, origin: origin, localPort: context.localPort) {
            return try refuse(refusal, request, context)
        }
        guard let origin, policy.isListed(origin) else { return try await next(request, context) }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers = Self.corsHeaders(origin)
            headers[.accessControlAllowMethods] = "GET, HEAD, POST, PUT, DELETE"
            headers[.accessControlAllowHeaders] = "Authorization, Content-Type, Traceparent"
            headers[.accessControlMaxAge] = "600"
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        response.headers.append(contentsOf: Self.corsHeaders(origin))
        return response
    }

    private static func corsHeaders(_ origin: String) -> HTTPFields {
        [
            .accessControlAllowOrigin: origin, .vary: "Origin",
            .accessControlExposeHeaders: "Location, Evento-Replayed, Evento-Schema-Id, WWW-Authenticate",
        ]
    }

    private func refuse(_ error: EventoError, _ request: Request, _ context: Context) throws -> Response {
        try ProblemMiddleware<Context>.response(for: Problem(error, instance: request.uri.path), request: request, context: context)
    }
}
