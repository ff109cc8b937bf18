import EventoCore
import Foundation

/// The console's files, compiled into the binary (no build step, nothing fetched at run time): the page
/// (`ConsolePage`), the script (`ConsoleScript`) and the style sheet (`ConsoleStyle`). Assets are served
/// under names that carry a hash of their content, which the page refers to.
enum ConsoleAssets {
    struct Asset: Sendable {
        let path: String
        let contentType: String
        let bytes: [UInt8]
    }

    static let prefix = "/ui/assets/"

    static let script = make("console", "js", "text/javascript; charset=utf-8", ConsoleScript.source)
    static let style = make("console", "css", "text/css; charset=utf-8", ConsoleStyle.source)

    static let page: [UInt8] = Array(
        ConsolePage.source
            .replacingOccurrences(of: "{{script}}", with: script.path)
            .replacingOccurrences(of: "{{style}}", with: style.path)
            .utf8)

    static func asset(at path: String) -> Asset? {
        if path == script.path { return script }
        if path == style.path { return style }
        return nil
    }

    private static func make(_ name: String, _ ext: String, _ contentType: String, _ text: String) -> Asset {
        let bytes = Array(text.utf8)
        let hash = Identifiers.sha256Hex(bytes).prefix(12)
        return Asset(path: "\(prefix)\(name).\(hash).\(ext)", contentType: contentType, bytes: bytes)
    }
}
