import EventoCore
import Foundation
import Testing

/// The social network of functions/social end to end: one real server with functions/social/social.json (Python
/// process workers: the user aggregate, the friendship saga, the projector, the queries). Each test uses users
/// of its own (ids and usernames with a fresh prefix), so the tests share the server and run in parallel.
@Suite(.sharedServer(arguments: ["--functions", "functions/social/social.json"]))
struct SocialTests {
    /// A fresh prefix for a test's user ids and usernames.
    func prefix() -> String { "t" + Identifiers.uuidV7().suffix(8) }

    @discardableResult
    func createUser(_ server: ServerProcess, _ id: String, username: String? = nil) async throws -> ServerProcess.Reply {
        try await server.send("user:" + id, "CreateUser", ["username": .string(username ?? id), "name": .string("Name of \(id)")])
    }

    /// AddFriend (or another command) answered once the saga's whole tree settled.
    func tree(_ server: ServerProcess, _ id: String, _ type: String, _ payload: JSONValue) async throws -> ServerProcess.Reply {
        try await server.post("/commands?wait=tree", json: ["entity": .string("user:" + id), "type": .string(type), "payload": payload])
    }

    func befriend(_ server: ServerProcess, _ a: String, _ b: String) async throws -> ServerProcess.Reply {
        try await tree(server, a, "AddFriend", ["friend": .string(b)])
    }

    /// (entity, type) of every event of a tree.
    func events(_ reply: ServerProcess.Reply) -> [String] {
        (reply.json["events"]?.arrayValue ?? []).map { "\($0["entity"]?.stringValue ?? "?") \($0["type"]?.stringValue ?? "?")" }
    }

    func rejection(_ reply: ServerProcess.Reply, of id: String) -> String? {
        (reply.json["events"]?.arrayValue ?? []).first { $0["type"] == "FriendshipRejected" && $0["entity"] == .string("user:" + id) }?["payload"]?["reason"]?
            .stringValue
    }

    func friends(_ server: ServerProcess, _ id: String) async throws -> [String] {
        try await server.get("/aggregates/user:\(id)").json["state"]?["friends"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// Waits until the projector has projected everything committed so far.
    func projected(_ server: ServerProcess) async throws {
        try await eventually("the social projector caught up") { try await server.get("/projectors/social-projector").json["lag"] == 0 }
    }

    @Test func usernamesAreUniqueIgnoringCaseAndCanBeLookedUp() async throws {
        let server = try SharedServer.current
        let p = prefix()
        let created = try await createUser(server, "\(p)-alice", username: "Alice_\(p)")
        #expect(created.status == 200, "\(created.text)")
        #expect(created.json["events"]?[0]?["type"] == "UserCreated")
        #expect(try await server.get("/aggregates/user:\(p)-alice").json["state"]?["status"] == "ACTIVE")

        // The same username in another case, for another user: a conflict that names the field, the value and the holder.
        let taken = try await createUser(server, "\(p)-mallory", username: "alice_\(p)")
        #expect(taken.status == 409, "\(taken.text)")
        #expect(taken.text.contains("username"), "\(taken.text)")
        #expect(taken.text.contains("user:\(p)-alice"), "\(taken.text)")
        let mallory = try await server.get("/aggregates/user:\(p)-mallory")
        #expect(mallory.status == 404 || mallory.json["state"] == .null, "\(mallory.text)")

        // Renaming into a taken username is refused too; the holder may change its own username's case.
        #expect(try await createUser(server, "\(p)-bob", username: "Bob_\(p)").status == 200)
        let rename = try await server.send("user:\(p)-bob", "UpdateUser", ["username": .string("ALICE_\(p)")])
        #expect(rename.status == 409, "\(rename.text)")
        let recase = try await server.send("user:\(p)-alice", "UpdateUser", ["username": .string("ALICE_\(p)"), "name": "Alice"])
        #expect(recase.status == 200, "\(recase.text)")
        #expect(recase.json["events"]?[0]?["payload"] == ["username": .string("ALICE_\(p)"), "name": "Alice"])

        // Looked up by username (ignoring case), and listed by status.
        let found = try await server.get("/aggregates?aggregate=user&username=alice_\(p)")
        #expect(found.status == 200, "\(found.text)")
        #expect((found.json["items"]?.arrayValue ?? []).compactMap { $0["entity"]?.stringValue } == ["user:\(p)-alice"], "\(found.text)")
        #expect(found.json["items"]?[0]?["state"]?["username"] == .string("ALICE_\(p)"))
        let active = try await server.get("/aggregates?aggregate=user&status=ACTIVE&limit=1000")
        #expect(active.status == 200, "\(active.text)")
        let listed = Set((active.json["items"]?.arrayValue ?? []).compactMap { $0["entity"]?.stringValue })
        #expect(listed.isSuperset(of: ["user:\(p)-alice", "user:\(p)-bob"]))

        // Business rejections are events.
        #expect(try await createUser(server, "\(p)-alice", username: "other_\(p)").json["events"]?[0]?["type"] == "UserRejected")
        #expect(try await server.send("user:\(p)-nobody", "UpdateUser", ["name": "X"]).json["events"]?[0]?["type"] == "UserRejected")
        #expect(try await createUser(server, "\(p)-bad", username: "has space").json["events"]?[0]?["type"] == "UserRejected")
    }

    @Test func theSagasStepsAreInternalCommandsClientsCannotSend() async throws {
        let server = try SharedServer.current
        let p = prefix()
        try await createUser(server, "\(p)-a")
        for type in ["AcceptFriend", "ConfirmFriend", "DropFriend"] {
            let r = try await server.post("/commands?wait=true", json: ["entity": .string("user:\(p)-a"), "type": .string(type), "payload": ["friend": "someone"]])
            #expect(r.status == 403, "\(type): \(r.text)")
        }
        let cancel = try await server.post(
            "/commands", json: ["entity": .string("user:\(p)-a"), "type": "CancelFriendRequest", "payload": ["friend": "x", "reason": "SELF"]])
        #expect(cancel.status == 403, "\(cancel.text)")
        #expect(try await server.events(of: "user:\(p)-a").count == 1)
    }

    @Test func aFriendshipIsSymmetricAndEveryRefusalIsAnEvent() async throws {
        let server = try SharedServer.current
        let p = prefix()
        let (ann, bob, ghost) = ("\(p)-ann", "\(p)-bob", "\(p)-ghost")
        try await createUser(server, ann)
        try await createUser(server, bob)

        let added = try await befriend(server, ann, bob)
        #expect(added.status == 200, "\(added.text)")
        #expect(events(added) == ["user:\(ann) FriendRequested", "user:\(bob) FriendAdded", "user:\(ann) FriendAdded"])
        #expect((added.json["commands"]?.arrayValue ?? []).compactMap { $0["type"]?.stringValue } == ["AcceptFriend", "ConfirmFriend"])
        #expect(try await friends(server, ann) == [bob])
        #expect(try await friends(server, bob) == [ann])
        #expect(try await server.get("/aggregates/user:\(ann)").json["state"]?["requested"] == [])

        // Refusals: each a FriendshipRejected on the user who asked, nothing else changed.
        #expect(rejection(try await befriend(server, ann, bob), of: ann) == "ALREADY_FRIENDS")
        #expect(rejection(try await befriend(server, bob, ann), of: bob) == "ALREADY_FRIENDS")
        #expect(rejection(try await befriend(server, ann, ann), of: ann) == "SELF")
        #expect(rejection(try await befriend(server, ghost, ann), of: ghost) == "UNKNOWN_USER")
        #expect(rejection(try await befriend(server, ann, "has space"), of: ann) == "UNKNOWN_FRIEND")
        // A user who does not exist is found out by the saga, on that user's own stream.
        let unknown = try await befriend(server, ann, ghost)
        #expect(events(unknown) == ["user:\(ann) FriendRequested", "user:\(ghost) FriendRequestDeclined", "user:\(ann) FriendshipRejected"])
        #expect(rejection(unknown, of: ann) == "UNKNOWN_FRIEND")
        #expect(try await server.get("/aggregates/user:\(ghost)").json["state"] == .null)
        #expect(try await server.get("/aggregates/user:\(ann)").json["state"]?["requested"] == [])
        #expect(try await friends(server, ann) == [bob])

        // Removing works from either side, and is symmetric too.
        let removed = try await tree(server, bob, "RemoveFriend", ["friend": .string(ann)])
        #expect(events(removed) == ["user:\(bob) FriendRemoved", "user:\(ann) FriendRemoved"])
        #expect(try await friends(server, ann) == [])
        #expect(try await friends(server, bob) == [])
        #expect(rejection(try await tree(server, ann, "RemoveFriend", ["friend": .string(bob)]), of: ann) == "NOT_FRIENDS")

        // The friends view follows: merge patches add and remove keys.
        try await projected(server)
        let view = try await server.get("/views/friends/\(ann)")
        #expect(view.status == 200, "\(view.text)")
        #expect(view.json["doc"]?["friends"] == [:])
        #expect(try await befriend(server, bob, ann).json["events"]?.arrayValue?.last?["type"] == "FriendAdded")
        try await projected(server)
        #expect(try await server.get("/views/friends/\(ann)").json["doc"]?["friends"] == [bob: true])
    }

    @Test func twoUsersAskingEachOtherAtOnceEndUpFriendsOnce() async throws {
        let server = try SharedServer.current
        let p = prefix()
        let ids = (0..<6).map { "\(p)-\($0)" }
        for id in ids { try await createUser(server, id) }
        // Every pair, both ways, all at once.
        let replies = try await withThrowingTaskGroup(of: ServerProcess.Reply.self) { group in
            for a in ids {
                for b in ids where a != b { group.addTask { try await self.befriend(server, a, b) } }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(replies.allSatisfy { $0.status == 200 }, "\(replies.first { $0.status != 200 }?.text ?? "")")
        for a in ids {
            #expect(try await friends(server, a) == ids.filter { $0 != a }.sorted(), "\(a)")
            #expect(try await server.get("/aggregates/user:\(a)").json["state"]?["requested"] == [], "\(a)")
        }
    }

    @Test func queriesAnswerFriendsMutualFriendsAndRecommendationsInOneRequest() async throws {
        let server = try SharedServer.current
        let p = prefix()
        func u(_ n: Int) -> String { "\(p)-u\(n)" }
        for n in 1...7 { try await createUser(server, u(n), username: "\(p)_name\(n)") }
        // u1's friends: u2, u3. Friends of theirs: u4 (through both), u5 (through u3), u6 (through u2).
        // u7 is a friend of u4 only: two steps away, not recommended.
        for (a, b) in [(1, 2), (1, 3), (2, 4), (3, 4), (3, 5), (2, 6), (4, 7)] {
            let r = try await befriend(server, u(a), u(b))
            #expect(r.json["events"]?.arrayValue?.last?["type"] == "FriendAdded", "\(r.text)")
        }
        try await projected(server)

        let friendsOf = try await server.get("/queries/social-friends?user=\(u(1))")
        #expect(friendsOf.status == 200, "\(friendsOf.text)")
        #expect(friendsOf.json["user"]?["username"] == .string("\(p)_name1"))
        #expect((friendsOf.json["friends"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue } == [u(2), u(3)])
        #expect(friendsOf.json["friends"]?[0]?["name"] == .string("Name of \(u(2))"))

        let mutual = try await server.get("/queries/social-mutual-friends?user=\(u(1))&other=\(u(4))")
        #expect(mutual.status == 200, "\(mutual.text)")
        #expect((mutual.json["mutualFriends"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue } == [u(2), u(3)])

        let recommended = try await server.get("/queries/social-recommendations?user=\(u(1))")
        #expect(recommended.status == 200, "\(recommended.text)")
        let ranked = (recommended.json["recommendations"]?.arrayValue ?? []).map { "\($0["id"]?.stringValue ?? "") \($0["mutualFriends"]?.intValue ?? 0)" }
        #expect(ranked == ["\(u(4)) 2", "\(u(5)) 1", "\(u(6)) 1"])
        #expect(recommended.json["recommendations"]?[0]?["username"] == .string("\(p)_name4"))
        let top = try await server.get("/queries/social-recommendations?user=\(u(1))&limit=1")
        #expect((top.json["recommendations"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue } == [u(4)])
        // u4's friends are u2, u3, u7: u1 shares two of them, u5 and u6 one each.
        let other = try await server.get("/queries/social-recommendations?user=\(u(4))")
        #expect((other.json["recommendations"]?.arrayValue ?? []).map { "\($0["id"]?.stringValue ?? "") \($0["mutualFriends"]?.intValue ?? 0)" }
            == ["\(u(1)) 2", "\(u(5)) 1", "\(u(6)) 1"])

        // A user who does not exist, or a missing parameter: the query refuses (a non-retryable function error,
        // which Evento answers as the request's fault, a 400) and says why.
        let nobody = try await server.get("/queries/social-recommendations?user=\(p)-nobody")
        #expect(nobody.status == 400, "\(nobody.text)")
        #expect(nobody.text.contains("unknown user"), "\(nobody.text)")
        let missing = try await server.get("/queries/social-friends")
        #expect(missing.status == 400, "\(missing.text)")
        #expect(missing.text.contains("the query needs the parameter 'user'"), "\(missing.text)")
    }

    @Test func theSocialBenchChecksASmallNetworkByBruteForceAndFailsOnAWrongAnswer() async throws {
        // A server of its own with neither the user schema nor the functions: the bench registers them (found
        // from its binary's checkout).
        let empty = NSTemporaryDirectory() + "evento-no-schemas-" + Identifiers.uuidV7()
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let server = try await ServerProcess(arguments: ["--schemas", empty])
        #expect(try await server.get("/schemas/user").status == 404)
        let bench = [Binaries.evento, "bench", "social", "--url", server.baseURL, "--users", "40", "--friendships", "150", "--concurrency", "8", "--json"]
        let r = try await runProgram(bench + ["--unknown", "0.05"], timeout: .seconds(300))
        #expect(r.status == 0, "\(r.out)\n\(r.err.suffix(3000))")
        let report = try JSONParser.parse(r.out.split(separator: "\n").last.map(String.init) ?? "")
        #expect(report["verified"] == true, "\(r.out)")
        #expect(report["scenario"] == "social (40 users, 150 friendship requests, registered by the bench: schemas/user.avsc and functions/social/social.json)")
        #expect(report["acknowledged"] == 150)
        #expect(report["errors"] == 0)
        #expect(report["taken usernames refused (409)"] == "1 of 1")
        #expect(report["friendship answers"]?.stringValue?.contains("UNKNOWN_FRIEND") == true, "\(r.out)")
        #expect(try await server.get("/schemas/user").status == 200)
        let functions = Set(try await server.get("/functions").json["functions"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
        #expect(functions.isSuperset(of: ["user-handler", "user-aggregator", "friendship-dispatcher", "social-projector", "social-recommendations"]))

        // A recommendations query that answers something else (the friends query under its name): the bench
        // says so and exits non-zero.
        #expect(try await server.request("DELETE", "/functions/social-recommendations").status < 300)
        let wrong = try await server.register([
            "name": "social-recommendations", "kind": "query",
            "transport": ["process": ["command": ["python3", .string(Fixtures.root + "/functions/social/queries.py"), "friends"], "workers": 1]],
        ])
        #expect(wrong.status == 201, "\(wrong.text)")
        let failed = try await runProgram(bench, timeout: .seconds(300))
        #expect(failed.status != 0, "\(failed.out)")
        let failedReport = try JSONParser.parse(failed.out.split(separator: "\n").last.map(String.init) ?? "")
        #expect(failedReport["verified"] == false, "\(failed.out)")
        #expect(failedReport["verification"]?.stringValue?.contains("of 40 recommendation lists differ") == true, "\(failed.out)")
        #expect(failedReport["scenario"]?.stringValue?.hasSuffix("functions already registered)") == true, "\(failed.out)")
        await server.stop()
    }
}
