/// A `ws://` or `wss://` gateway URL, split into what a connection needs.
public struct GatewayURL: Sendable, Equatable, CustomStringConvertible {
    /// Whether the connection uses TLS (`wss`).
    public let secure: Bool
    /// The host name or address.
    public let host: String
    /// The port (443 for `wss` and 80 for `ws` when the URL has none).
    public let port: Int
    /// The path, at least `/`.
    public let path: String

    /// Parses `ws://host[:port][/path]` or `wss://…`; a query in the URL is dropped (the shard adds
    /// its own). A URL with a control character or a space is refused: it would end up raw in the
    /// HTTP request line and in log lines (the URL comes from `GET /gateway/bot` or READY).
    public init?(_ string: String) {
        guard !string.hasControlOrWhitespace else { return nil }
        let lower = string.lowercased()
        let rest: Substring
        if lower.hasPrefix("wss://") {
            secure = true
            rest = string.dropFirst(6)
        } else if lower.hasPrefix("ws://") {
            secure = false
            rest = string.dropFirst(5)
        } else {
            return nil
        }
        let withoutQuery = rest.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        let slash = withoutQuery.firstIndex(of: "/") ?? withoutQuery.endIndex
        let authority = withoutQuery[..<slash]
        path = slash == withoutQuery.endIndex ? "/" : String(withoutQuery[slash...])
        guard !authority.isEmpty else { return nil }
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = String(authority[authority.index(after: authority.startIndex)..<close])
            let after = authority[authority.index(after: close)...]
            guard let parsed = after.isEmpty ? (secure ? 443 : 80) : (after.hasPrefix(":") ? Int(after.dropFirst()) : nil) else { return nil }
            port = parsed
        } else if let colon = authority.lastIndex(of: ":") {
            host = String(authority[..<colon])
            guard let parsed = Int(authority[authority.index(after: colon)...]), (1...65535).contains(parsed) else { return nil }
            port = parsed
        } else {
            host = String(authority)
            port = secure ? 443 : 80
        }
        guard !host.isEmpty else { return nil }
    }

    /// The request target with the gateway query: `/path?v=10&encoding=json[&compress=…]`.
    public func requestTarget(compression: GatewayCompression) -> String {
        var query = "v=10&encoding=json"
        if let parameter = compression.queryValue { query += "&compress=\(parameter)" }
        return path + "?" + query
    }

    public var description: String {
        let defaultPort = secure ? 443 : 80
        return "\(secure ? "wss" : "ws")://\(host.contains(":") ? "[\(host)]" : host)"
            + (port == defaultPort ? "" : ":\(port)") + path
    }
}
