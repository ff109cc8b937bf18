/// The registered functions, as JSON definitions by name, so that a restart brings them back.
public protocol FunctionCatalogue: Sendable {
    func functionDefinitions() async throws -> [(name: String, definition: RawJSON)]
    func saveFunction(name: String, definition: RawJSON) async throws
    /// - Returns: false when there was no such function.
    func deleteFunction(name: String) async throws -> Bool
}
