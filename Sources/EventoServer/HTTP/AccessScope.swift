import HTTPTypes

/// What a token may do. Each scope includes the ones below it: `admin` ⊃ `write` ⊃ `read`.
///
/// - `read`: every read (events, commands, aggregates, views, projectors, queries, traces, schemas, the
///   schema registry's reads, Kafka and cluster status, the console's listings);
/// - `write`: appending events and sending commands, the system's input;
/// - `admin`: what changes how the system runs, or runs code on the host: functions (and their reads),
///   schemas and the registry's compatibility settings, dead letters and their retry, Kafka republish,
///   projector rebuild and retry, aggregate snapshot rebuild.
public enum AccessScope: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case read = 1
    case write = 2
    case admin = 3

    public init?(name: String) {
        switch name {
        case "read": self = .read
        case "write": self = .write
        case "admin": self = .admin
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .read: "read"
        case .write: "write"
        case .admin: "admin"
        }
    }

    public static func < (a: AccessScope, b: AccessScope) -> Bool { a.rawValue < b.rawValue }

    /// The scope a request needs, or nil for the few that stay open (health, metrics, the OpenAPI document,
    /// the console's page and assets: the page then asks for a token, like any client).
    ///
    /// Decided from the method and the path split the way the router splits it (empty components dropped), so
    /// that `//functions` is classified as `/functions`. Unknown routes fall into the default of their method:
    /// a read needs `read`, anything else `admin`, so a route added later is guarded by the strictest scope
    /// until it is given its own line here (docs/security.md has the table).
    static func required(method name: String, path: String) -> AccessScope? {
        guard let method = HTTPRequest.Method(name) else { return .admin }
        return required(method: method, path: path)
    }

    static func required(method: HTTPRequest.Method, path: String) -> AccessScope? {
        let parts = path.lowercased().split(separator: "/", omittingEmptySubsequences: true)
        let first = parts.first ?? ""
        switch method {
        case .get, .head, .options:
            if parts.count == 1 && ["healthz", "metrics", "openapi.json"].contains(first) { return nil }
            if first == "ui" { return nil }
            if first == "functions" || first == "dead-letters" { return .admin }
            return .read
        case .post:
            switch first {
            // The system's input: events and commands.
            case "events", "commands": return parts.count == 1 ? .write : .admin
            // A read of several documents, as a POST only for the size of its list of keys.
            case "views": return parts.count == 3 && parts[2] == "_get" ? .read : .admin
            // Confluent lookup (`POST /subjects/{subject}`) and compatibility checks answer without changing
            // anything: serializers that do not register schemas call them.
            case "subjects": return parts.count == 2 ? .read : .admin
            case "compatibility": return .read
            default: return .admin
            }
        default:
            return .admin
        }
    }
}
