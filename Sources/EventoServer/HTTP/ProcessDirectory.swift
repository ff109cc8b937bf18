#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EventoCore
import Foundation
import Hummingbird

/// `--process-dir`: the one folder whose programs process functions may run.
///
/// Registering a process function runs its program on this host, with the server's rights. The admin scope
/// decides who may register; this decides what may run: the program (`transport.process.command[0]`),
/// resolved the way the spawn resolves it (a name through `PATH`, a relative path against the function's
/// `cwd`) and then to its real path (symbolic links and `..` followed), must lie inside the folder.
/// An interpreter outside it (`["python3", "fn.py"]`) is refused like any program: the operator puts a
/// script that starts it (`#!/usr/bin/env python3`) inside. `LD_*` variables in the function's `env` are
/// refused too, since they load code from anywhere into the program.
struct ProcessDirectory: Sendable {
    /// The folder's real path, without a trailing slash.
    let root: String
    let configured: String

    init(_ path: String) throws(EventoError) {
        guard let real = Self.realPath(path) else {
            throw EventoError(.invalidRequest, "--process-dir \(path): no such folder")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw EventoError(.invalidRequest, "--process-dir \(path): not a folder")
        }
        root = real == "/" ? "" : real
        configured = path
    }

    /// Why the function may not be registered (a 403 naming the field), or nil.
    func refusal(_ definition: FunctionDefinition) -> EventoError? {
        guard case .process(let command, _, let environment, let cwd) = definition.transport else { return nil }
        return refusal(command: command, environment: Array(environment.keys), workingDirectory: cwd)
    }

    /// The same, from a request body as sent (`PUT /functions/{name}` may leave the name out, so the
    /// definition is not parsed whole here). A process transport whose command is not a list of strings is
    /// left to the route, which refuses it.
    func refusal(body: JSONValue) -> EventoError? {
        guard let process = body["transport"]?["process"],
            let command = process["command"]?.arrayValue?.compactMap(\.stringValue), !command.isEmpty
        else { return nil }
        return refusal(
            command: command, environment: process["env"]?.objectValue?.keys ?? [], workingDirectory: process["cwd"]?.stringValue)
    }

    func refusal(command: [String], environment: [String], workingDirectory cwd: String?) -> EventoError? {
        guard let program = command.first else { return nil }
        if let key = environment.sorted().first(where: Self.loadsCode) {
            return EventoError(
                .forbidden,
                "transport.process.env.\(key): variables that make a program load other code (LD_*, BASH_ENV, PATH, PYTHONPATH, NODE_OPTIONS, …) are not allowed with --process-dir",
                field: "transport.process.env.\(key)")
        }
        let field = "transport.process.command"
        guard let resolved = Self.resolve(program, workingDirectory: cwd) else {
            return EventoError(.forbidden, "\(field): the program \(program) is not found inside the process folder (--process-dir \(configured))", field: field)
        }
        guard resolved.hasPrefix(root + "/") else {
            return EventoError(
                .forbidden,
                "\(field): the program \(program) (\(resolved)) is outside the process folder (--process-dir \(configured)); put it, or a script that starts it, there",
                field: field)
        }
        return nil
    }

    /// Whether an environment variable can make the program (or the interpreter a script names) run code
    /// from outside the folder: the dynamic loader's, the shells' start-up files, the search path, and the
    /// interpreters' own (module paths, start-up files, options that load modules).
    static func loadsCode(_ name: String) -> Bool {
        let n = name.uppercased()
        if ["LD_", "DYLD_", "PYTHON", "PERL5", "PERLLIB", "RUBY", "NODE_", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "GCONV_PATH", "LUA_"]
            .contains(where: n.hasPrefix)
        { return true }
        return ["BASH_ENV", "ENV", "PATH", "SHELLOPTS", "PS4", "GEM_PATH", "GEM_HOME", "CLASSPATH"].contains(n)
    }

    /// The real path of the program as `posix_spawnp` would find it, or nil when there is none.
    static func resolve(_ program: String, workingDirectory: String?) -> String? {
        let base = FileManager.default.currentDirectoryPath
        let cwd = workingDirectory.map { $0.hasPrefix("/") ? $0 : base + "/" + $0 } ?? base
        if program.contains("/") { return realPath(program.hasPrefix("/") ? program : cwd + "/" + program) }
        // As glibc's posix_spawnp: the server's PATH (the default when unset); an empty entry is the
        // current directory, which for the child is its cwd.
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/bin:/usr/bin"
        for dir in path.split(separator: ":", omittingEmptySubsequences: false) {
            let d = dir.isEmpty ? cwd : dir.hasPrefix("/") ? String(dir) : cwd + "/" + dir
            let candidate = d + "/" + program
            if access(candidate, X_OK) == 0, let real = realPath(candidate) { return real }
        }
        return nil
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}

/// Applies `ProcessDirectory` to function registrations through the API (the functions file at start is
/// checked where it is read). Runs after the token check: only an admin gets this far.
struct ProcessDirectoryMiddleware<Context: RequestContext>: RouterMiddleware {
    let directory: ProcessDirectory
    let maxBodyBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method != .get, request.method != .head, request.method != .delete,
            request.uri.path.split(separator: "/").first?.lowercased() == "functions"
        else { return try await next(request, context) }
        // The body is in memory already (RequestBodyMiddleware). What does not parse is left to the route,
        // whose errors name the field.
        var copy = request
        if let json = try? await copy.jsonBody(limit: maxBodyBytes), let refusal = directory.refusal(body: json) { throw refusal }
        return try await next(request, context)
    }
}
