/// An `http://` or `https://` base URL split into what a connection needs.
struct HTTPEndpoint: Sendable, Equatable {
    let secure: Bool
    let host: String
    let port: Int
    /// The base path without a trailing slash (empty for the root).
    let path: String

    init?(_ string: String) {
        let lower = string.lowercased()
        let wsForm: String
        if lower.hasPrefix("https://") {
            wsForm = "wss://" + string.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            wsForm = "ws://" + string.dropFirst(7)
        } else {
            return nil
        }
        guard let parsed = GatewayURL(wsForm) else { return nil }
        secure = parsed.secure
        host = parsed.host
        port = parsed.port
        var path = parsed.path
        while path.hasSuffix("/") { path.removeLast() }
        self.path = path
    }

    /// The `Host` header: the port only when it is not the scheme's default.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return port == (secure ? 443 : 80) ? name : "\(name):\(port)"
    }
}
