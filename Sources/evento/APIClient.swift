import ArgumentParser
import EventoCore
import EventoHTTP
import Foundation

/// The CLI's view of a running server: JSON in, JSON out, problems turned into readable errors.
struct APIClient {
    let baseURL: String
    let http = HTTPClient()

    func get(_ path: String, timeout: Duration = .seconds(30)) async throws -> JSONValue {
        try await send(HTTPClientRequest(method: "GET", url: baseURL + path, timeout: timeout))
    }

    func post(_ path: String, body: [UInt8]) async throws -> JSONValue {
        // The server refuses bodies not declared as JSON (docs/errors.md, 415).
        try await send(HTTPClientRequest(method: "POST", url: baseURL + path, headers: [("Content-Type", "application/json")], body: body))
    }

    func put(_ path: String, body: [UInt8]) async throws -> JSONValue {
        try await send(HTTPClientRequest(method: "PUT", url: baseURL + path, headers: [("Content-Type", "application/json")], body: body))
    }

    func delete(_ path: String) async throws -> JSONValue {
        try await send(HTTPClientRequest(method: "DELETE", url: baseURL + path))
    }

    /// How many times a request the server refused as overloaded (429) is sent in all.
    static let overloadTries = 5
    /// The longest pause honoured from a Retry-After, so that a CLI command never hangs for long.
    static let longestPause: Duration = .seconds(30)

    private func send(_ request: HTTPClientRequest) async throws -> JSONValue {
        var request = request
        // A scoped token ($EVENTO_TOKEN: read, write or admin, docs/security.md), else the admin token.
        if let token = Environment.get("EVENTO_TOKEN") ?? Environment.get("EVENTO_ADMIN_TOKEN") {
            request.headers.append(("Authorization", "Bearer \(token)"))
        }
        request.collectHeaders = true
        var response: HTTPClientResponse
        var tries = 0
        while true {
            tries += 1
            do {
                response = try await http.execute(request)
            } catch let e as HTTPClientError {
                throw CLIError("cannot reach Evento at \(baseURL): \(e.message). Is `evento serve` running? (--url or EVENTO_URL)")
            }
            // Overloaded: the server wrote nothing, so sending the same request again is safe. The server
            // says when (Retry-After, in seconds); without it, 1 s doubling.
            guard response.status == 429, tries < Self.overloadTries else { break }
            let fallback = Duration.seconds(1 << (tries - 1))
            let pause = min(Self.longestPause, response.header("Retry-After").flatMap(Int.init).map { .seconds(max(0, $0)) } ?? fallback)
            printError(
                "evento: the server is overloaded (429); trying again in \(pause.components.seconds) s (try \(tries + 1) of \(Self.overloadTries))")
            try await Task.sleep(for: pause)
        }
        if response.status == 204 { return .null }
        let value = try? JSONParser.parse(response.body)
        guard response.status < 400 else {
            if let detail = value?["detail"]?.stringValue {
                throw CLIError("\(response.status) \(value?["title"]?.stringValue ?? ""): \(detail)")
            }
            throw CLIError("\(response.status): \(response.bodyText)")
        }
        guard let value else { throw CLIError("the server answered with something that is not JSON: \(response.bodyText.prefix(200))") }
        return value
    }
}

/// An error shown to the CLI user as one line, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Percent-encodes a path segment.
func pathSegment(_ s: String) -> String {
    var allowed = CharacterSet.urlPathAllowed
    allowed.remove("/")
    return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
}

/// Writes a line to standard error, unbuffered.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Writes a line to standard output, unbuffered (so pipes see it at once).
func output(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
