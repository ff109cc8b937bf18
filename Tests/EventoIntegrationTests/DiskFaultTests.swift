import EventoCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// A full disk: clear 503s with Retry-After, nothing acknowledged lost, and recovery once space returns.
/// The data directory lives on a small tmpfs (mounting needs root, as in CI; elsewhere the test says so).
@Suite(.serialized) struct DiskFaultTests {
    @Test func aFullDiskGives503sLosesNothingAndRecoversWhenSpaceReturns() async throws {
        let mountPoint = NSTemporaryDirectory() + "evento-tmpfs-" + Identifiers.uuidV7()
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mount = try await runProgram(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mountPoint])
        guard mount.status == 0 else {
            Issue.record("cannot mount a tmpfs (needs root): \(mount.err)")
            return
        }
        defer {
            // Unmounted whatever happens (a failed expectation must not leave the tmpfs behind), by the system
            // call: no process to wait for here.
            _ = umount2(mountPoint, Int32(MNT_DETACH))
            try? FileManager.default.removeItem(atPath: mountPoint)
        }
        // Space to give back later.
        let filler = mountPoint + "/filler"
        try Data(count: 1_000_000).write(to: URL(fileURLWithPath: filler))
        let server = try await ServerProcess(arguments: ["--data-dir", mountPoint + "/data"])
        // Eight clients at once, so that the disk fills in the middle of group commits of several writes.
        let acknowledgedIds = Shared<[String]>([])
        let fullReplies = Shared<[ServerProcess.Reply]>([])
        let pad = String(repeating: "x", count: 8_000)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for c in 0..<8 {
                group.addTask {
                    for i in 0..<400 {
                        let id = "disk-\(c)-\(i)"
                        let r = try await server.post("/events", json: ["id": .string(id), "entity": .string("disk:e\(i % 10)"), "type": "Filled", "payload": ["pad": .string(pad)]])
                        if r.status == 201 {
                            acknowledgedIds.withLock { $0.append(id) }
                        } else {
                            fullReplies.withLock { $0.append(r) }
                            return
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let refused = try #require(fullReplies.withLock { $0.first }, "the disk never filled")
        #expect(fullReplies.withLock { $0 }.allSatisfy { $0.status == 503 }, "\(fullReplies.withLock { $0 }.map(\.status))")
        #expect(refused.status == 503, "\(refused.text)")
        #expect(refused.json["type"] == "/problems/unavailable" && refused.text.contains("disk"), "\(refused.text)")
        #expect(refused.header("Retry-After") != nil)
        // Still full: more writes are refused with the same clear 503 (a few may still fit in space the failed
        // group left free: those are acknowledged like any other), and the server answers reads.
        var stillFull: ServerProcess.Reply?
        for i in 0..<200 where stillFull == nil {
            let id = "disk-more-\(i)"
            let r = try await server.post("/events", json: ["id": .string(id), "entity": .string("disk:e\(i % 10)"), "type": "Filled", "payload": ["pad": .string(pad)]])
            if r.status == 201 { acknowledgedIds.withLock { $0.append(id) } } else { stillFull = r }
        }
        #expect(stillFull?.status == 503, "\(stillFull?.text ?? "200 more writes fit")")
        let acknowledged = acknowledgedIds.withLock { $0 }
        #expect(try await server.get("/healthz").status == 200)
        // Space returns: writes work again, and everything acknowledged is there.
        try FileManager.default.removeItem(atPath: filler)
        try await eventually(timeout: .seconds(30), "writes work again") {
            try await server.post("/events", json: ["entity": "disk:after", "type": "Filled", "payload": [:]]).status == 201
        }
        await server.kill()
        try await server.start()
        // Exactly the acknowledged events: none lost, none that was refused kept.
        var stored: Set<String> = []
        for e in 0..<10 { stored.formUnion(try await server.events(of: "disk:e\(e)").compactMap { $0["id"]?.stringValue }) }
        stored.remove("")
        let expected = Set(acknowledged)
        #expect(stored.filter { $0.hasPrefix("disk-") } == expected, "\(stored.count) stored for \(expected.count) acknowledged")
        await server.kill()
    }
}
