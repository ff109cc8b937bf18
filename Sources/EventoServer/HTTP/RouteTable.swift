import Synchronization

/// The registered routes, for the answer to a method a path does not have: 405 with `Allow`, not 404.
/// Filled once every route is registered (`load`); read by `ProblemMiddleware` for requests no route took.
final class RouteTable: Sendable {
    private let routes = Mutex<[(segments: [Substring], method: String)]>([])

    /// Paths as the router describes them: `/events/{id}`, `/ui/**` (`:id` is read the same way).
    func load(_ routes: [(path: String, method: String)]) {
        let parsed = routes.map { (segments: $0.path.split(separator: "/"), method: $0.method) }
        self.routes.withLock { $0 = parsed }
    }

    /// The methods the most specific routes matching this path have, in a stable order; empty when no route
    /// has the path. Most specific: the most literal segments (`/views/{view}/_get` over `/views/{view}/{key}`,
    /// as the router and the OpenAPI document see them).
    func methods(for path: String) -> [String] {
        let parts = path.split(separator: "/")
        let found = routes.withLock { routes in routes.filter { Self.matches($0.segments, parts) } }
        guard let best = found.map({ Self.literals($0.segments) }).max() else { return [] }
        return Set(found.filter { Self.literals($0.segments) == best }.map(\.method)).sorted()
    }

    static func literals(_ template: [Substring]) -> Int { template.filter { !isCapture($0) && !$0.hasPrefix("*") }.count }

    /// A parameter segment: `:name` or `{name}`.
    static func isCapture(_ t: Substring) -> Bool { t.hasPrefix(":") || (t.hasPrefix("{") && t.hasSuffix("}")) }

    static func matches(_ template: [Substring], _ parts: [Substring]) -> Bool {
        var i = 0
        for (k, t) in template.enumerated() {
            if t == "**" { return k == template.count - 1 }
            guard i < parts.count else { return false }
            if !(isCapture(t) || t == "*" || t == parts[i]) { return false }
            i += 1
        }
        return i == parts.count
    }
}
