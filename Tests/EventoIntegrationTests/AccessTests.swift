@testable import EventoServer
import EventoCore
import Foundation
import Testing

/// Who may change what: browsers on other sites (Origin), names that rebind to this host (Host),
/// addresses that only look like loopback, and clients without the admin token.
@Suite struct AccessTests {
    // MARK: Pure logic

    @Test(arguments: [
        ("127.0.0.1", true), ("127.1.2.3", true), ("localhost", true), ("LocalHost", true), ("localhost.", true),
        ("::1", true), ("[::1]", true), ("0:0:0:0:0:0:0:1", true), ("::ffff:127.0.0.1", true),
        ("127.0.0.1.nip.io", false), ("127.evil.example", false), ("localhost.evil.example", false), ("0.0.0.0", false),
        ("::", false), ("10.0.0.1", false), ("128.0.0.1", false), ("127.1", false), ("0x7f.0.0.1", false), ("", false),
        ("::ffff:10.0.0.1", false), ("evil.example", false),
    ])
    func loopbackIsDecidedByParsingTheAddress(_ host: String, _ loopback: Bool) {
        #expect(NetworkAddress.isLoopback(host) == loopback)
    }

    @Test(arguments: [("0.0.0.0", true), ("::", true), ("[::]", true), ("0:0::0", true), ("127.0.0.1", false), ("example", false)])
    func wildcardAddressesAreRecognised(_ host: String, _ wildcard: Bool) {
        #expect(NetworkAddress.isWildcard(host) == wildcard)
    }

    static let loopbackPolicy = AccessPolicy(bindHost: "127.0.0.1", hasToken: false)

    @Test(arguments: [
        ("127.0.0.1:8080", true), ("localhost:8080", true), ("LOCALHOST:8080", true), ("[::1]:8080", true),
        ("127.0.0.1:8081", false), ("127.0.0.1", false), ("evil.example:8080", false), ("127.0.0.1.nip.io:8080", false),
        ("", false), ("127.0.0.1:80:80", false),
    ])
    func theHostHeaderMustNameTheServersOwnAddressAndPort(_ host: String, _ allowed: Bool) {
        #expect((Self.loopbackPolicy.refusal(host: host, origin: nil, localPort: 8080) == nil) == allowed)
    }

    @Test(arguments: [
        ("http://127.0.0.1:8080", true), ("http://localhost:8080", true), ("http://evil.example", false),
        ("http://127.0.0.1:9999", false), ("https://127.0.0.1:8080", false), ("null", false), ("http://evil.example:8080", false),
    ])
    func anOriginIsAllowedWhenItIsTheServerItself(_ origin: String, _ allowed: Bool) {
        #expect((Self.loopbackPolicy.refusal(host: "127.0.0.1:8080", origin: origin, localPort: 8080) == nil) == allowed)
    }

    @Test func configuredHostsAndOriginsAreAllowedAndAWildcardBindWithATokenTakesAnyHost() {
        var policy = AccessPolicy(bindHost: "127.0.0.1", hasToken: false)
        policy.allowedHosts = ["api.example", "other.example:9000"]
        policy.allowedOrigins = ["https://ui.example"]
        #expect(policy.refusal(host: "api.example:443", origin: nil, localPort: 8080) == nil)
        #expect(policy.refusal(host: "api.example", origin: nil, localPort: 8080) == nil)
        #expect(policy.refusal(host: "other.example:9000", origin: nil, localPort: 8080) == nil)
        #expect(policy.refusal(host: "other.example:9001", origin: nil, localPort: 8080) != nil)
        #expect(policy.refusal(host: "127.0.0.1:8080", origin: nil, localPort: 8080) != nil, "a configured list replaces the default")
        #expect(policy.refusal(host: "api.example", origin: "https://ui.example", localPort: 8080) == nil)
        #expect(policy.refusal(host: "api.example", origin: "HTTPS://UI.example", localPort: 8080) == nil)
        #expect(policy.refusal(host: "api.example", origin: "https://ui.example.evil", localPort: 8080) != nil)

        let open = AccessPolicy(bindHost: "0.0.0.0", hasToken: true)
        #expect(open.refusal(host: "anything.example:1234", origin: nil, localPort: 8080) == nil)
        #expect(open.refusal(host: "anything.example:1234", origin: "http://anything.example:1234", localPort: 8080) == nil)
        #expect(open.refusal(host: "anything.example:1234", origin: "http://evil.example", localPort: 8080) != nil)
    }

    // MARK: Through the server

    @Test func aCrossSitePostCannotRegisterAFunction() async throws {
        let server = try await ServerProcess()
        let definition = Fixtures.python("evil", kind: "handler", aggregate: "evil", script: "/bin/true").jsonText
        for (contentType, origin) in [("text/plain", "http://evil.example"), ("application/json", "http://evil.example"), ("text/plain", nil)] {
            var headers = [("Content-Type", contentType)]
            if let origin { headers.append(("Origin", origin)) }
            let r = try await server.request("POST", "/functions", body: definition, headers: headers)
            #expect(r.status == (origin == nil ? 415 : 403), "\(r.text)")
            #expect(r.header("Content-Type") == "application/problem+json")
        }
        let r = try await server.request(
            "POST", "/functions", body: definition, headers: [("Content-Type", "application/json"), ("Origin", "http://evil.example")])
        #expect(r.json["type"] == "/problems/forbidden")
        #expect(r.json["field"] == "Origin")
        #expect(r.json["detail"] == "Origin http://evil.example is not allowed: this server takes requests from other sites only when they are listed in --allowed-origins")
        #expect(try await server.get("/functions").json["functions"] == [])

        // The server's own pages may.
        let same = try await server.request(
            "POST", "/events", body: #"{"entity":"origin:1","type":"X","payload":{}}"#, headers: [("Origin", "http://127.0.0.1:\(server.port)")])
        #expect(same.status == 201, "\(same.text)")
    }

    @Test func aHostHeaderThatIsNotTheServersIsRefused() async throws {
        let server = try await ServerProcess()
        for host in ["evil.example:\(server.port)", "127.0.0.1.nip.io:\(server.port)", "127.0.0.1:\(server.port + 1)"] {
            let r = try await server.request("GET", "/healthz", headers: [("Host", host)])
            #expect(r.status == 403, "\(host): \(r.text)")
            #expect(r.json["field"] == "Host")
            #expect(r.json["detail"] == .string("Host \(host) is not an address of this server: list the names clients use in --allowed-hosts"))
        }
        #expect(try await server.request("GET", "/healthz", headers: [("Host", "localhost:\(server.port)")]).status == 200)
    }

    @Test func allowedOriginsGetCORSAnswersAndAllowedHostsAreServed() async throws {
        let server = try await ServerProcess(
            arguments: [], environment: ["EVENTO_ALLOWED_ORIGINS": "http://ui.example:3000", "EVENTO_ALLOWED_HOSTS": "api.example,127.0.0.1"])
        let preflight = try await server.request(
            "OPTIONS", "/events",
            headers: [("Host", "api.example"), ("Origin", "http://ui.example:3000"), ("Access-Control-Request-Method", "POST"),
                      ("Access-Control-Request-Headers", "content-type")])
        #expect(preflight.status == 204, "\(preflight.text)")
        #expect(preflight.header("Access-Control-Allow-Origin") == "http://ui.example:3000")
        #expect(preflight.header("Access-Control-Allow-Headers")?.lowercased().contains("content-type") == true)
        let post = try await server.request(
            "POST", "/events", body: #"{"entity":"cors:1","type":"X","payload":{}}"#,
            headers: [("Host", "api.example"), ("Origin", "http://ui.example:3000")])
        #expect(post.status == 201, "\(post.text)")
        #expect(post.header("Access-Control-Allow-Origin") == "http://ui.example:3000")
        #expect(post.header("Vary") == "Origin")
        #expect(try await server.request("GET", "/healthz", headers: [("Host", "evil.example")]).status == 403)
    }

    @Test func aNameThatOnlyStartsLikeLoopbackNeedsATokenToBind() async throws {
        let dir = NSTemporaryDirectory() + "evento-bind-" + Identifiers.uuidV7()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var env = ProcessInfo.processInfo.environment
        env["EVENTO_ADMIN_TOKEN"] = nil
        let r = try await runProgram(
            [Binaries.evento, "serve", "--host", "127.0.0.1.nip.io", "--port", "0", "--data-dir", dir], environment: env, timeout: .seconds(20))
        #expect(r.status != 0)
        #expect(r.err.contains("refusing to bind 127.0.0.1.nip.io without an admin token"), "\(r.err)")
    }

    // MARK: The admin token

    /// The routes the running server registered (it logs them at debug level), with their parameters filled in.
    static func routes(of server: ServerProcess) throws -> [(method: String, path: String)] {
        let lines = server.serverLog.split(separator: "\n").compactMap { $0.firstMatch(of: /route: ([A-Z]+) (\/\S*)/) }
        try #require(lines.count >= 30, "the server logged \(lines.count) routes")
        return lines.map { m in
            let path = String(m.2).replacing(/\{entity\}/, with: "acl:1").replacing(/\{[a-z]+\}/, with: "x")
            return (String(m.1), path)
        }
    }

    @Test func withAnAdminTokenEveryRouteButTheOpenOnesNeedsIt() async throws {
        let server = try await ServerProcess(arguments: ["--log-level", "debug"], environment: ["EVENTO_ADMIN_TOKEN": "s3cret"])
        let routes = try Self.routes(of: server)
        let open = ["/healthz", "/metrics", "/openapi.json", "/ui", "/ui/**"]
        #expect(routes.filter { !open.contains($0.path) }.count >= 40)
        for (method, path) in routes {
            let without = try await server.request(method, path, body: method == "GET" ? nil : "{}")
            if open.contains(path) {
                #expect(without.status != 401, "\(method) \(path) stays open")
                continue
            }
            #expect(without.status == 401, "\(method) \(path) without the token: \(without.status) \(without.text)")
            #expect(without.header("WWW-Authenticate") == "Bearer")
            let wrong = try await server.request(method, path, body: method == "GET" ? nil : "{}", headers: [("Authorization", "Bearer s3cre")])
            #expect(wrong.status == 401, "\(method) \(path) with a wrong token: \(wrong.status)")
            let with = try await server.request(method, path, body: method == "GET" ? nil : "{}", headers: [("Authorization", "Bearer s3cret")])
            #expect(with.status != 401 && with.status != 403, "\(method) \(path) with the token: \(with.text)")
        }
        let problem = try await server.post("/events", #"{"entity":"acl:1","type":"X","payload":{}}"#)
        #expect(problem.header("Content-Type") == "application/problem+json")
        #expect(problem.json["type"] == "/problems/unauthorized")
        #expect(problem.json["detail"] == "POST /events needs a token with the write scope: Authorization: Bearer TOKEN")
        let confluent = try await server.request("PUT", "/config", body: #"{"compatibility":"NONE"}"#)
        #expect(confluent.json["error_code"] == 401, "schema registry clients get their own error format")
        #expect(!server.serverLog.contains("s3cret"))
    }

    @Test func withoutAnyTokenEveryRouteIsOpenOnLoopback() async throws {
        let server = try await ServerProcess(environment: ["EVENTO_ADMIN_TOKEN": "", "EVENTO_TOKENS": ""])
        #expect(try await server.get("/functions").status == 200)
        #expect(try await server.get("/dead-letters").status == 200)
        #expect(try await server.post("/events", #"{"entity":"open:1","type":"X","payload":{}}"#).status == 201)
    }
}
