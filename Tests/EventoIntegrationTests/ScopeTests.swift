import Crypto
@testable import EventoServer
import EventoCore
import Foundation
import Testing

/// Scoped tokens (docs/security.md): every route against no token, a wrong token and a token of each
/// scope; the token list and file formats; the constant-time compare; the process folder.
@Suite(
    .sharedServer(
        arguments: ["--log-level", "trace"],
        environment: [
            "EVENTO_TOKENS": " read:scope-read-1 , read:scope-read-2,write:scope-write,admin:scope-admin",
            "EVENTO_ADMIN_TOKEN": "scope-admin-2",
            "EVENTO_JWT_SECRET": "scope-tests-jwt-secret-0123456789abcdef",  // ScopeTests.jwtSecret
        ]))
struct ScopeTests {
    static let tokens: [(scope: AccessScope, token: String)] = [
        (.read, "scope-read-1"), (.read, "scope-read-2"), (.write, "scope-write"), (.admin, "scope-admin"), (.admin, "scope-admin-2"),
    ]

    /// Every route the server registers and the scope it needs (nil: open). A route missing here fails the
    /// table test: a new route needs its line (and docs/security.md its row).
    static let table: [(method: String, path: String, scope: AccessScope?)] = [
        ("GET", "/healthz", nil), ("GET", "/metrics", nil), ("GET", "/openapi.json", nil),
        ("GET", "/ui", nil), ("GET", "/ui/**", nil), ("GET", "/ui/assets/x", nil), ("HEAD", "/healthz", nil),
        ("GET", "/events", .read), ("POST", "/events", .write), ("GET", "/events/{id}", .read), ("GET", "/events/{id}/avro", .read),
        ("GET", "/entities", .read), ("GET", "/entities/{entity}/events", .read),
        ("GET", "/commands", .read), ("POST", "/commands", .write), ("GET", "/commands/{id}", .read),
        ("GET", "/aggregates", .read), ("GET", "/aggregates/{entity}", .read),
        ("GET", "/aggregates/{entity}/rebuild", .read), ("POST", "/aggregates/{entity}/rebuild", .admin),
        ("GET", "/trace/{id}", .read),
        ("GET", "/schemas", .read), ("GET", "/schemas/{aggregate}", .read), ("PUT", "/schemas/{aggregate}", .admin),
        ("GET", "/schemas/ids/{id}", .read), ("GET", "/schemas/ids/{id}/schema", .read),
        ("GET", "/subjects", .read), ("POST", "/subjects/{subject}", .read), ("GET", "/subjects/{subject}/versions", .read),
        ("POST", "/subjects/{subject}/versions", .admin), ("GET", "/subjects/{subject}/versions/{version}", .read),
        ("GET", "/subjects/{subject}/versions/{version}/schema", .read),
        ("POST", "/compatibility/subjects/{subject}/versions/{version}", .read),
        ("GET", "/config", .read), ("PUT", "/config", .admin), ("GET", "/config/{subject}", .read), ("PUT", "/config/{subject}", .admin),
        ("GET", "/functions", .admin), ("POST", "/functions", .admin), ("GET", "/functions/{name}", .admin),
        ("PUT", "/functions/{name}", .admin), ("DELETE", "/functions/{name}", .admin),
        ("GET", "/dead-letters", .admin), ("POST", "/dead-letters/{id}/retry", .admin),
        ("GET", "/kafka", .read), ("POST", "/kafka/republish", .admin), ("GET", "/cluster", .read),
        ("GET", "/views/{view}", .read), ("GET", "/views/{view}/{key}", .read), ("POST", "/views/{view}/_get", .read),
        ("GET", "/projectors", .read), ("GET", "/projectors/{name}", .read),
        ("POST", "/projectors/{name}/rebuild", .admin), ("POST", "/projectors/{name}/retry", .admin),
        ("GET", "/queries/{name}", .read),
        // Not routes: the default of the method (a read needs read, anything else admin).
        ("GET", "/no-such-route", .read), ("POST", "/no-such-route", .admin), ("PATCH", "/events", .admin),
        ("GET", "//functions", .admin), ("POST", "/events/x", .admin),
    ]

    static func concrete(_ path: String) -> String {
        path.replacing(/\{entity\}/, with: "acl:1").replacing(/\{(version|id)\}/, with: "1").replacing(/\{[a-z]+\}/, with: "x")
    }

    @Test func everyRouteOfTheServerIsInTheTable() async throws {
        let server = try SharedServer.current
        let logged = server.serverLog.split(separator: "\n").compactMap { $0.firstMatch(of: /route: ([A-Z]+) (\/\S*)/) }
            .map { "\($0.1) \($0.2)" }
        try #require(logged.count >= 40, "the server logged \(logged.count) routes")
        let known = Set(Self.table.map { "\($0.method) \($0.path)" })
        for route in logged {
            #expect(known.contains(route), "\(route) is not in ScopeTests.table (nor, probably, in docs/security.md)")
        }
    }

    @Test func everyRouteAgainstEveryScope() async throws {
        let server = try SharedServer.current
        for (method, template, needed) in Self.table {
            #expect(AccessScope.required(method: method, path: template) == needed, "\(method) \(template)")
            let path = Self.concrete(template)
            let body: String? = ["GET", "HEAD", "DELETE"].contains(method) ? nil : "{}"
            var attempts: [(String, [(name: String, value: String)], AccessScope?)] = [
                ("no token", [], nil), ("a wrong token", [("Authorization", "Bearer scope-read-3")], nil),
                ("another scheme", [("Authorization", "Basic scope-admin")], nil),
            ]
            for (scope, token) in Self.tokens { attempts.append(("the \(scope) token \(token)", [("Authorization", "Bearer " + token)], scope)) }
            for (what, headers, scope) in attempts {
                let r = try await server.request(method, path, body: body, headers: headers)
                let label = "\(method) \(path) with \(what): \(r.status) \(r.text.prefix(300))"
                guard let needed else {
                    #expect(r.status != 401 && r.status != 403, "open: \(label)")
                    continue
                }
                guard let scope else {
                    #expect(r.status == 401, "\(label)")
                    #expect(r.header("WWW-Authenticate")?.hasPrefix("Bearer") == true, "\(label)")
                    continue
                }
                if scope >= needed {
                    // Allowed: whatever the route answers, but not a refusal (503: Kafka is not configured here).
                    #expect(r.status != 401 && r.status != 403 && r.status != 500, "allowed: \(label)")
                } else {
                    #expect(r.status == 403, "too small a scope: \(label)")
                    #expect(r.header("WWW-Authenticate") == "Bearer error=\"insufficient_scope\", scope=\"\(needed)\"", "\(label)")
                }
            }
        }
    }

    @Test func refusalsSayWhatIsNeededAndNeverEchoTheToken() async throws {
        let server = try SharedServer.current
        let missing = try await server.post("/events", #"{"entity":"scope:1","type":"X","payload":{}}"#)
        #expect(missing.status == 401)
        #expect(missing.header("Content-Type") == "application/problem+json")
        #expect(missing.header("WWW-Authenticate") == "Bearer")
        #expect(missing.json["type"] == "/problems/unauthorized")
        #expect(missing.json["detail"] == "POST /events needs a token with the write scope: Authorization: Bearer TOKEN")

        let wrong = try await server.request("GET", "/events", headers: [("Authorization", "Bearer not-a-token-of-this-server")])
        #expect(wrong.status == 401)
        #expect(wrong.header("WWW-Authenticate") == #"Bearer error="invalid_token""#)
        #expect(!wrong.text.contains("not-a-token-of-this-server"))

        let small = try await server.request("GET", "/functions", headers: [("Authorization", "Bearer scope-write")])
        #expect(small.status == 403)
        #expect(small.header("Content-Type") == "application/problem+json")
        #expect(small.json["type"] == "/problems/forbidden")
        #expect(small.json["scope"] == "admin")
        #expect(small.json["field"] == "Authorization")
        #expect(small.json["detail"] == "GET /functions needs the admin scope; the token given has the write scope")
        #expect(!small.text.contains("scope-write"))

        let twice = try await server.request(
            "GET", "/events", headers: [("Authorization", "Bearer scope-admin"), ("Authorization", "Bearer scope-admin")])
        #expect(twice.status == 401, "\(twice.text)")

        // The scheme is case-insensitive (RFC 9110).
        #expect(try await server.request("GET", "/events", headers: [("Authorization", "bearer scope-read-1")]).status == 200)
        // Schema registry clients get Confluent's error format.
        let confluent = try await server.request("PUT", "/config", body: #"{"compatibility":"NONE"}"#, headers: [("Authorization", "Bearer scope-read-2")])
        #expect(confluent.status == 403)
        #expect(confluent.json["error_code"] == 403, "\(confluent.text)")
    }

    @Test func aWriteTokenAppendsAndSendsAndAReadTokenReadsWhatItWrote() async throws {
        let server = try SharedServer.current
        let write = [("Authorization", "Bearer scope-write")]
        let posted = try await server.post("/events", #"{"id":"scope-e1","entity":"scopes:1","type":"X","payload":{}}"#, headers: write)
        #expect(posted.status == 201, "\(posted.text)")
        let read = try await server.request("GET", "/events/scope-e1", headers: [("Authorization", "Bearer scope-read-2")])
        #expect(read.status == 200)
        #expect(read.json["entity"] == "scopes:1")
        let readCannotWrite = try await server.post(
            "/events", #"{"entity":"scopes:1","type":"X","payload":{}}"#, headers: [("Authorization", "Bearer scope-read-1")])
        #expect(readCannotWrite.status == 403)
    }

    @Test func functionWorkersReadWithATokenOfTheirOwnAndInheritNoneOfTheOperators() async throws {
        let server = try SharedServer.current
        let query = Fixtures.python("scope-token-query", kind: "query", script: Fixtures.function("token_query.py"))
        let registered = try await server.register(query, headers: [("Authorization", "Bearer scope-admin")])
        #expect(registered.status == 201, "\(registered.text)")
        let posted = try await server.post(
            "/events", #"{"entity":"tokenquery:1","type":"X","payload":{}}"#, headers: [("Authorization", "Bearer scope-write")])
        #expect(posted.status == 201)
        let r = try await server.request("GET", "/queries/scope-token-query?entity=tokenquery:1", headers: [("Authorization", "Bearer scope-read-1")])
        #expect(r.status == 200, "\(r.text)")
        #expect(r.json["version"] == 1, "the query read the aggregate with its read token: \(r.text)")
        #expect(r.json["inherited"] == [], "a worker inherits none of the operator's token variables")
        #expect(r.json["hasToken"] == true)
    }

    @Test func noTokenAppearsInTheServersLog() async throws {
        let server = try SharedServer.current
        for (_, token) in Self.tokens {
            _ = try await server.request("GET", "/events", headers: [("Authorization", "Bearer " + token)])
            _ = try await server.request("GET", "/functions", headers: [("Authorization", "Bearer " + token)])
        }
        _ = try await server.request("GET", "/events", headers: [("Authorization", "Bearer a-wrong-token-xyz")])
        let log = server.serverLog
        #expect(log.contains("access tokens: 2 admin, 1 write, 2 read, and JWTs (HS256)"), "the start-up line counts the tokens")
        for (_, token) in Self.tokens { #expect(!log.contains(token), "\(token) is in the server's log") }
        #expect(!log.contains("a-wrong-token-xyz"))
    }

    // MARK: Pure logic

    @Test func tokensCompareInConstantTimeOverEqualLengths() {
        let a = AccessTokens.digest("token-a".utf8)
        #expect(a.count == 32)
        #expect(AccessTokens.constantTimeEqual(a, AccessTokens.digest("token-a".utf8)))
        #expect(!AccessTokens.constantTimeEqual(a, AccessTokens.digest("token-b".utf8)))
        var lastByte = a
        lastByte[31] ^= 1
        #expect(!AccessTokens.constantTimeEqual(a, lastByte), "a difference in the last byte counts")
        #expect(!AccessTokens.constantTimeEqual(a, Array(a.prefix(31))))
        #expect(!AccessTokens.constantTimeEqual([], a))
        #expect(AccessTokens.constantTimeEqual([], []))
    }

    @Test func aTokenListGivesEachTokenItsScopeAndAdminIncludesTheOthers() throws {
        let tokens = try AccessTokens.parse(list: "read:r1, read:r2 ,write:w1,,admin:a1, admin:a1")
        #expect(tokens.count == 4, "an entry listed twice with one scope is one token")
        #expect(tokens.scope(of: "r1".utf8) == .read)
        #expect(tokens.scope(of: "r2".utf8) == .read)
        #expect(tokens.scope(of: "w1".utf8) == .write)
        #expect(tokens.scope(of: "a1".utf8) == .admin)
        #expect(tokens.scope(of: "a".utf8) == nil)
        #expect(tokens.scope(of: "a1 ".utf8) == nil)
        #expect(tokens.scope(of: "".utf8) == nil)
        #expect(AccessScope.admin > .write && AccessScope.write > .read)
        #expect(AccessTokens().scope(of: "r1".utf8) == nil)
    }

    @Test func aTokensFileTakesOneScopedTokenALineWithComments() throws {
        let file = """
            # Evento's tokens
            read:reader-1
              write: writer-1\r
            \t
            admin:admin-1   # not a comment: part of no token, refused below if it had a space
            """
        #expect(throws: EventoError.self) { try AccessTokens.parse(file: file, path: "tokens.txt") }
        let tokens = try AccessTokens.parse(
            file: "# Evento's tokens\nread:reader-1\n  write: writer-1\r\n\t\n\nadmin:admin-1\n# admin:commented-out\n", path: "tokens.txt")
        #expect(tokens.count == 3)
        #expect(tokens.scope(of: "reader-1".utf8) == .read)
        #expect(tokens.scope(of: "writer-1".utf8) == .write)
        #expect(tokens.scope(of: "admin-1".utf8) == .admin)
        #expect(tokens.scope(of: "commented-out".utf8) == nil)
    }

    @Test(arguments: [
        ("read:ok\nsuper:secret-1", "tokens.txt line 2: unknown scope \"super\"; expected read, write or admin"),
        ("read:ok\njust-a-token-secret-2", "tokens.txt line 2: expected scope:token (read, write or admin)"),
        ("admin:", "tokens.txt line 1: the token is empty"),
        ("read:two words-secret-3", "tokens.txt line 1: a token is visible ASCII without spaces or commas"),
        ("read:dup-secret-4\nadmin:dup-secret-4", "tokens.txt line 2: the same token is already listed with the read scope (tokens.txt line 1)"),
    ])
    func aBadTokensFileIsRefusedNamingTheLineNotTheToken(_ contents: String, _ message: String) {
        do {
            _ = try AccessTokens.parse(file: contents, path: "tokens.txt")
            Issue.record("accepted: \(contents)")
        } catch {
            #expect(error.message == message)
            #expect(!error.message.contains("secret"), "a token leaked into \(error.message)")
        }
    }

    @Test func theAdminTokenAndTheListAreOneSet() throws {
        var tokens = try AccessTokens.parse(list: "read:r1")
        try tokens.add("a1", scope: .admin, source: "EVENTO_ADMIN_TOKEN")
        #expect(tokens.scope(of: "a1".utf8) == .admin)
        #expect(tokens.summary == "1 admin, 0 write, 1 read")
        #expect(throws: EventoError.self) { try tokens.add("r1", scope: .admin, source: "EVENTO_ADMIN_TOKEN") }
    }

    @Test(arguments: [
        ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER  abc", "abc"), ("Bearer ", nil), ("Basic abc", nil), ("Bearerabc", nil),
        ("", nil),
    ])
    func theBearerSchemeIsReadCaseInsensitively(_ header: String, _ token: String?) {
        #expect(TokenAuth.bearer(header).map { String(decoding: Array($0), as: UTF8.self) } == token)
    }

    // MARK: JWTs

    static let jwtSecret = "scope-tests-jwt-secret-0123456789abcdef"

    /// A JWT of these claims, signed with HS256 (or whatever `alg` says, with HS256's signature).
    static func jwt(_ claims: JSONValue, alg: String = "HS256", secret: String = jwtSecret) -> String {
        func b64(_ bytes: [UInt8]) -> String {
            Data(bytes).base64EncodedString().replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
        }
        let header = b64(Array(#"{"alg":"\#(alg)","typ":"JWT"}"#.utf8))
        let payload = b64(Array(claims.jsonText.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Array((header + "." + payload).utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return header + "." + payload + "." + b64(Array(mac))
    }

    static func inAnHour() -> JSONValue { .int(Int64(Date().timeIntervalSince1970) + 3600) }

    @Test func aJWTCarriesItsScopeAndIsRefusedWhenExpiredForgedOrOfAnotherAlgorithm() throws {
        var config = JWTVerifier.Configuration(secret: Array(Self.jwtSecret.utf8))
        config.issuer = "https://issuer.example"
        config.audience = "evento"
        let verifier = try JWTVerifier(config)
        func scope(_ token: String) -> Result<AccessScope, JWTVerifier.Refusal> { verifier.scope(of: Array(token.utf8)) }
        let good: JSONObject = ["iss": "https://issuer.example", "aud": ["other", "evento"], "exp": Self.inAnHour(), "scope": "openid write"]
        #expect(scope(Self.jwt(.object(good))) == .success(.write))
        var admin = good
        admin["scope"] = "read admin"
        admin["aud"] = "evento"
        #expect(scope(Self.jwt(.object(admin))) == .success(.admin))

        func refused(_ claims: JSONObject, alg: String = "HS256", secret: String = ScopeTests.jwtSecret, _ reason: String) {
            #expect(scope(Self.jwt(.object(claims), alg: alg, secret: secret)) == .failure(.init(reason: reason)), "\(claims) \(alg)")
        }
        var c = good
        c["exp"] = .int(Int64(Date().timeIntervalSince1970) - 60)
        refused(c, "the JWT has expired")
        c = good
        c["exp"] = nil
        refused(c, "the JWT has no exp claim")
        c = good
        c["nbf"] = .int(Int64(Date().timeIntervalSince1970) + 600)
        refused(c, "the JWT is not valid yet (nbf)")
        c = good
        c["iss"] = "https://evil.example"
        refused(c, "the JWT's issuer is not this server's (iss)")
        c = good
        c["aud"] = "someone-else"
        refused(c, "the JWT is not meant for this server (aud)")
        c = good
        c["scope"] = "openid profile"
        refused(c, "the JWT's scope claim names none of read, write, admin")
        refused(good, secret: "another-secret-of-at-least-32-bytes!!", "the JWT's signature is not valid")
        refused(good, alg: "none", "the JWT's algorithm is not HS256")
        refused(good, alg: "HS512", "the JWT's algorithm is not HS256")
        // alg none with no signature at all.
        let unsigned = Self.jwt(.object(good), alg: "none").split(separator: ".").prefix(2).joined(separator: ".") + "."
        #expect(scope(unsigned) == .failure(.init(reason: "the bearer token is not a well-formed JWT")))
        #expect(scope("a.b") == .failure(.init(reason: "the bearer token is not a well-formed JWT")))
        // Claims that are not JSON are not even read without a valid signature (before: parsed first, so an
        // unsigned token had the server parse whatever it carried); signed, they are refused as such.
        let header = Self.jwt(.object(good)).split(separator: ".")[0]
        let junk = "bm90IGpzb24"  // "not json"
        #expect(scope("\(header).\(junk).AAAA") == .failure(.init(reason: "the JWT's signature is not valid")))
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(header).\(junk)".utf8), using: SymmetricKey(data: Array(Self.jwtSecret.utf8)))
        let signedJunk = "\(header).\(junk)." + Data(mac).base64EncodedString().replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
        #expect(scope(signedJunk) == .failure(.init(reason: "the JWT's claims are not a JSON object")))
        #expect(throws: EventoError.self) { try JWTVerifier(.init(secret: Array("short".utf8))) }
    }

    @Test func theServerTakesJWTsBesideItsTokens() async throws {
        let server = try SharedServer.current
        let write = Self.jwt(["exp": Self.inAnHour(), "scope": "write"])
        let posted = try await server.post("/events", #"{"entity":"jwt:1","type":"X","payload":{}}"#, headers: [("Authorization", "Bearer " + write)])
        #expect(posted.status == 201, "\(posted.text)")
        let notAdmin = try await server.request("GET", "/functions", headers: [("Authorization", "Bearer " + write)])
        #expect(notAdmin.status == 403)
        let expired = Self.jwt(["exp": .int(Int64(Date().timeIntervalSince1970) - 3600), "scope": "admin"])
        let r = try await server.request("GET", "/events", headers: [("Authorization", "Bearer " + expired)])
        #expect(r.status == 401)
        #expect(r.json["detail"] == "GET /events: the JWT has expired")
        #expect(r.header("WWW-Authenticate") == #"Bearer error="invalid_token""#)
        #expect(!server.serverLog.contains(write) && !server.serverLog.contains(Self.jwtSecret))
    }

    // MARK: The process folder

    @Test func theProcessFolderResolvesProgramsAndRefusesTheOnesOutside() throws {
        let dir = NSTemporaryDirectory() + "evento-procdir-" + Identifiers.uuidV7()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/fns", withIntermediateDirectories: true)
        try writeExecutable("#!/bin/sh\n", to: dir + "/fns/ok.sh")
        try FileManager.default.createSymbolicLink(atPath: dir + "/fns/sh", withDestinationPath: "/bin/sh")
        let folder = try ProcessDirectory(dir + "/fns")

        #expect(folder.refusal(command: [dir + "/fns/ok.sh"], environment: [], workingDirectory: nil) == nil)
        #expect(folder.refusal(command: ["./ok.sh", "arg"], environment: [], workingDirectory: dir + "/fns") == nil)
        #expect(folder.refusal(command: ["fns/ok.sh"], environment: [], workingDirectory: dir) == nil)
        for command in [["python3", "x.py"], ["/bin/sh", "-c", "true"], [dir + "/fns/../fns/sh"], [dir + "/fns/sh"], [dir + "/fns/missing"]] {
            let refusal = folder.refusal(command: command, environment: [], workingDirectory: nil)
            #expect(refusal?.field == "transport.process.command", "\(command)")
            #expect(refusal?.code == .forbidden)
        }
        let preload = folder.refusal(command: [dir + "/fns/ok.sh"], environment: ["LD_PRELOAD"], workingDirectory: nil)
        #expect(preload?.field == "transport.process.env.LD_PRELOAD")
        for name in ["BASH_ENV", "PATH", "PYTHONPATH", "NODE_OPTIONS", "PERL5OPT", "RUBYOPT", "GCONV_PATH"] {
            #expect(folder.refusal(command: [dir + "/fns/ok.sh"], environment: [name], workingDirectory: nil)?.field == "transport.process.env.\(name)")
        }
        #expect(folder.refusal(command: [dir + "/fns/ok.sh"], environment: ["EVENTO_RUNTIME_PY", "MODE"], workingDirectory: nil) == nil)
        #expect(throws: EventoError.self) { try ProcessDirectory(dir + "/nothing-here") }
    }

    @Test func withAProcessFolderOnlyItsProgramsCanBeRegisteredAndTokensComeFromAFile() async throws {
        let dir = NSTemporaryDirectory() + "evento-procdir-" + Identifiers.uuidV7()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // An interpreter lives outside the folder: the folder holds a script that starts it.
        let script = dir + "/counter.sh"
        try writeExecutable("#!/bin/sh\nexec python3 \(Fixtures.function("counter.py")) \"$@\"\n", to: script)
        try "# admin of the test\nadmin:file-admin\nwrite:file-write\n".write(toFile: dir + "/tokens", atomically: true, encoding: .utf8)
        let server = try await ServerProcess(
            arguments: ["--tokens-file", dir + "/tokens", "--process-dir", dir], environment: ["EVENTO_ADMIN_TOKEN": "", "EVENTO_TOKENS": ""])
        let admin = [("Authorization", "Bearer file-admin")]

        let outside = Fixtures.python("outside", kind: "handler", aggregate: "outside", script: Fixtures.function("counter.py"))
        let refused = try await server.register(outside, headers: admin)
        #expect(refused.status == 403, "\(refused.text)")
        #expect(refused.json["field"] == "transport.process.command")
        var put = outside.objectValue ?? [:]
        put["name"] = nil
        let refusedPut = try await server.request("PUT", "/functions/outside", body: JSONValue.object(put).jsonText, headers: admin)
        #expect(refusedPut.status == 403, "PUT without a name in the body is checked too: \(refusedPut.text)")
        #expect(refusedPut.json["field"] == "transport.process.command")

        let inside: JSONValue = [
            "name": "counter-inside", "kind": "handler", "aggregate": "counter",
            "transport": ["process": ["command": [.string(script)], "env": ["EVENTO_RUNTIME_PY": .string(Fixtures.runtimePython)]]],
        ]
        let registered = try await server.register(inside, headers: admin)
        #expect(registered.status == 201, "\(registered.text)")
        #expect(try await server.register(inside, headers: [("Authorization", "Bearer file-write")]).status == 403)
        let sent = try await server.request(
            "POST", "/commands?wait=true", body: #"{"entity":"counter:1","type":"Increment","payload":{}}"#,
            headers: [("Authorization", "Bearer file-write")])
        #expect(sent.json["command"]?["status"] == "succeeded", "\(sent.text)")
        #expect(!server.serverLog.contains("file-admin"))
    }
}
