import Foundation
import Testing

/// One `evento serve` for every test of a suite: `@Suite(.sharedServer(arguments: […]))`, then
/// `try SharedServer.current` in the tests. The server starts before the suite's first test and stops
/// after its last (a suite trait's scope wraps the whole suite), so a suite of twenty cases pays for one
/// start. Tests of a shared server run in parallel: each uses entities and ids of its own.
struct SharedServerTrait: SuiteTrait, TestScoping {
    var arguments: [String]
    var environment: [String: String]

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let server = try await ServerProcess(arguments: arguments, environment: environment)
        do {
            try await SharedServer.$server.withValue(server) { try await function() }
        } catch {
            await server.stop()
            throw error
        }
        #expect(await server.stop(), "evento serve did not shut down within 15 s of SIGTERM")
    }
}

extension Trait where Self == SharedServerTrait {
    static func sharedServer(arguments: [String] = [], environment: [String: String] = [:]) -> Self {
        SharedServerTrait(arguments: arguments, environment: environment)
    }
}

enum SharedServer {
    @TaskLocal static var server: ServerProcess?

    /// The suite's server; fails the test when the suite has no `.sharedServer` trait.
    static var current: ServerProcess {
        get throws { try #require(server, "the suite needs the .sharedServer trait") }
    }
}
