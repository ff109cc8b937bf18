#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Addresses as the server reads them: bind addresses, `Host` headers, origins. Decided by parsing,
/// never by comparing prefixes (`127.0.0.1.nip.io` is a name that anyone can point anywhere).
enum NetworkAddress {
    /// Whether binding `host` keeps the server on this machine: an IPv4 address in 127.0.0.0/8, the IPv6
    /// loopback `::1` (also IPv4-mapped, `::ffff:127.x.x.x`), or the name `localhost`. Any other name is
    /// not loopback, whatever it resolves to today.
    static func isLoopback(_ host: String) -> Bool {
        let h = unbracketed(host).lowercased()
        if h == "localhost" || h == "localhost." { return true }
        if let v4 = ipv4(h) { return v4[0] == 127 }
        if let v6 = ipv6(h) {
            if v6[0..<15].allSatisfy({ $0 == 0 }) && v6[15] == 1 { return true }
            // ::ffff:a.b.c.d
            if v6[0..<10].allSatisfy({ $0 == 0 }) && v6[10] == 0xFF && v6[11] == 0xFF { return v6[12] == 127 }
        }
        return false
    }

    /// Whether `host` is the any-address (`0.0.0.0`, `::`): the server answers on every interface.
    static func isWildcard(_ host: String) -> Bool {
        let h = unbracketed(host)
        if let v4 = ipv4(h) { return v4.allSatisfy { $0 == 0 } }
        if let v6 = ipv6(h) { return v6.allSatisfy { $0 == 0 } }
        return false
    }

    /// The 4 bytes of a dotted-quad IPv4 literal (`inet_pton` is strict: no `127.1`, no hex, no octal).
    static func ipv4(_ text: String) -> [UInt8]? {
        var a = in_addr()
        guard inet_pton(AF_INET, text, &a) == 1 else { return nil }
        return withUnsafeBytes(of: &a) { Array($0) }
    }

    /// The 16 bytes of an IPv6 literal (without brackets).
    static func ipv6(_ text: String) -> [UInt8]? {
        var a = in6_addr()
        guard inet_pton(AF_INET6, text, &a) == 1 else { return nil }
        return withUnsafeBytes(of: &a) { Array($0) }
    }

    static func unbracketed(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }

    /// A host and an optional port, as in a `Host` header or an origin: `name`, `name:port`, `1.2.3.4:80`,
    /// `[::1]:8080`. The host is lower-cased and unbracketed; nil when the text is not of that shape.
    static func authority(_ text: String) -> (host: String, port: Int?)? {
        guard !text.isEmpty else { return nil }
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":" else { return nil }
                portText = rest.dropFirst()
            }
            guard ipv6(String(host)) != nil else { return nil }
        } else {
            let parts = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count <= 2 else { return nil }
            host = parts[0]
            if parts.count == 2 { portText = parts[1] }
            guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" }) else { return nil }
        }
        var port: Int?
        if let portText {
            guard let p = Int(portText), (0...65535).contains(p), portText.allSatisfy(\.isASCII) else { return nil }
            port = p
        }
        return (host.lowercased(), port)
    }
}
