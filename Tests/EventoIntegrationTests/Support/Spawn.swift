import Foundation

/// Every process a test starts goes through one lock: Foundation's `Process.run` crashed inside (a memcpy of
/// a bad pointer, in a CI run of the whole suite) while tests started processes from several threads at
/// once, and a child started at the same moment as another test's pipe is made can inherit its ends.
private let spawnLock = NSLock()

extension Process {
    func runSerialized() throws {
        spawnLock.lock()
        defer { spawnLock.unlock() }
        try run()
    }
}
