import EventoCore
import Foundation
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
        defer { _ = try? FileManager.default.removeItem(atPath: mountPoint) }
        // Space to give back later.
        let filler = mountPoint + "/filler"
        try Data(count: 1_000_000).write(to: URL(fileURLWithPath: filler))
        let server = try await ServerProcess(arguments: ["--data-dir", mountPoint + "/data"])
        var acknowledged: [String] = []
        var full: ServerProcess.Reply?
        let pad = String(repeating: "x", count: 8_000)
        for i in 0..<2_000 {
            let r = try await server.post("/events", json: ["id": .string("disk-\(i)"), "entity": .string("disk:e\(i % 10)"), "type": "Filled", "payload": ["pad": .string(pad)]])
            if r.status == 201 {
                acknowledged.append("disk-\(i)")
                continue
            }
            full = r
            break
        }
        let refused = try #require(full, "the disk never filled")
        #expect(refused.status == 503, "\(refused.text)")
        #expect(refused.json["type"] == "/problems/unavailable" && refused.text.contains("disk"), "\(refused.text)")
        #expect(refused.header("Retry-After") != nil)
        // Still full: still a clear 503, and the server answers reads.
        #expect(try await server.post("/events", json: ["entity": "disk:more", "type": "Filled", "payload": [:]]).status == 503)
        #expect(try await server.get("/healthz").status == 200)
        // Space returns: writes work again, and everything acknowledged is there.
        try FileManager.default.removeItem(atPath: filler)
        try await eventually(timeout: .seconds(30), "writes work again") {
            try await server.post("/events", json: ["entity": "disk:after", "type": "Filled", "payload": [:]]).status == 201
        }
        await server.kill()
        try await server.start()
        var stored = 0
        for e in 0..<10 { stored += try await server.events(of: "disk:e\(e)").count }
        #expect(stored == acknowledged.count, "\(stored) stored for \(acknowledged.count) acknowledged")
        await server.kill()
        _ = try await runProgram(["umount", mountPoint])
    }
}
