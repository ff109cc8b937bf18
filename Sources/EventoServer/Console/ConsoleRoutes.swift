import EventoCore
import HTTPTypes
import Hummingbird
import NIOCore

/// The web console at `/ui` (docs/console.md): one HTML page for every `/ui/…` address (the page routes on
/// its own path, so every address can be pasted into a chat), and its script and style sheet under
/// `/ui/assets/`, named by their content hash so that browsers keep them until the binary changes.
///
/// The page uses the JSON API from the browser, same-origin, like any client: the access policy and the
/// admin token apply to it unchanged. It registers the console's own listings too (`ConsoleListingRoutes`).
struct ConsoleRoutes<Context: RequestContext>: Sendable {
    let store: any EventoStorage
    let maxResponseBytes: Int

    func register(on router: Router<Context>) {
        ConsoleListingRoutes(store: store, maxResponseBytes: maxResponseBytes).register(on: router)
        router.get("/ui") { _, _ in Self.page() }
        router.get("/ui/**") { request, _ in
            let path = request.uri.path
            guard path.hasPrefix(ConsoleAssets.prefix) else { return Self.page() }
            guard let asset = ConsoleAssets.asset(at: path) else { throw EventoError.notFound("no console asset at \(path)") }
            var headers = Self.securityHeaders
            headers[.contentType] = asset.contentType
            headers[.cacheControl] = "public, max-age=31536000, immutable"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
        }
    }

    /// The page: never cached (it names the current assets), scripts only from this server.
    static func page() -> Response {
        var headers = securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-cache"
        headers[.contentSecurityPolicy] =
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: ConsoleAssets.page)))
    }

    static var securityHeaders: HTTPFields {
        [.xContentTypeOptions: "nosniff", .referrerPolicy: "no-referrer", .xFrameOptions: "DENY"]
    }
}

extension HTTPField.Name {
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
}
