import EventoCore
import Hummingbird

/// Guards administration routes (functions, dead letters): registering a function is running code on the
/// host. With a token configured, those routes need `Authorization: Bearer <token>`.
struct AdminAuth: Sendable {
    let token: String?

    func check(_ request: Request) throws {
        guard let token else { return }
        let given = request.headers[.authorization] ?? ""
        let prefix = "Bearer "
        guard given.hasPrefix(prefix), constantTimeEqual(String(given.dropFirst(prefix.count)), token) else {
            var problem = Problem(EventoError(.unauthorized, "this route needs the admin token: Authorization: Bearer <EVENTO_ADMIN_TOKEN>"))
            problem.headers[.wwwAuthenticate] = "Bearer"
            throw problem
        }
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

    /// Whether binding `host` exposes the server beyond this machine.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}
