/// Why gateway discovery failed. No case ever carries the bot token.
public enum GatewayDiscoveryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// HTTP 401: the token was refused (Discord's `message`). Not retried.
    case unauthorized(message: String)
    /// HTTP 429 on the last allowed attempt: the wait asked for and whether the limit is global.
    case rateLimited(retryAfter: Duration, global: Bool)
    /// HTTP 5xx on the last allowed attempt.
    case serverError(status: Int)
    /// Any other status, or a success whose body could not be decoded (the body is truncated and
    /// has the token redacted).
    case unexpectedResponse(status: Int, body: String)
    /// The API base URL is not an `http://` or `https://` URL.
    case invalidURL(String)
    /// The connection could not be opened, or ended before the response did (described).
    case connectionFailed(String)
    /// Connecting or the whole request took longer than allowed.
    case timedOut
    /// The TLS handshake failed: the server's certificate is not trusted or does not name the
    /// host (described). Not retried: trust the server's CA with `additionalTrustRoots`.
    case tlsFailed(String)

    /// A readable explanation; never contains the token.
    public var description: String {
        switch self {
        case .unauthorized(let message): "the token was refused (401): \(message)"
        case .rateLimited(let retryAfter, let global):
            "rate limited (429\(global ? ", global" : "")), retry after \(retryAfter); no attempts left"
        case .serverError(let status): "the server failed (HTTP \(status)); no attempts left"
        case .unexpectedResponse(let status, let body): "unexpected response (HTTP \(status)): \(body)"
        case .invalidURL(let url): "not an http:// or https:// URL: \(url)"
        case .connectionFailed(let what): "connection failed: \(what)"
        case .timedOut: "the request timed out"
        case .tlsFailed(let what): "TLS handshake failed: \(what)"
        }
    }
}
