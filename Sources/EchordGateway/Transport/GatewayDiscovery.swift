import EchordModels
import Foundation
import Logging

/// Asks Discord's HTTP API where the gateway is (`GET /gateway`) and how to shard
/// (`GET /gateway/bot`), over a small HTTP/1.1 client on SwiftNIO.
///
/// A 401 fails at once; a 429 waits `retry_after` and retries; a 5xx retries with exponential
/// backoff and full jitter (0.5 s base, at most 10 s). At most `maxAttempts` requests are made in
/// all. Every wait goes through the injected ``GatewayClock``; the connect and request timeouts
/// are real time, since they bound real I/O. A failed connection or a timeout is retried like a 5xx;
/// a failed TLS handshake is not (``GatewayDiscoveryError/tlsFailed(_:)``).
///
/// ```swift
/// let discovery = GatewayDiscovery(token: BotToken(secret))
/// let info = try await discovery.gatewayBot()
/// print(info.shards, info.sessionStartLimit.remaining)
/// ```
public struct GatewayDiscovery: Sendable {
    /// The API base URL, as given (a trailing slash is ignored).
    public let apiBaseURL: String
    /// The most requests one call makes (at least 1).
    public let maxAttempts: Int
    /// How long the TCP connect may take.
    public let connectTimeout: Duration
    /// How long one request may take in all (connect, TLS, request and response).
    public let requestTimeout: Duration
    /// Certificate authorities trusted for `https://` besides the system's roots.
    public let additionalTrustRoots: [TLSTrustRoot]

    private let token: BotToken
    private let clock: GatewayClock
    private let logger: Logger

    /// The first backoff cap after a 5xx; it doubles per attempt up to ``maxBackoff``.
    static let baseBackoff: Duration = .milliseconds(500)
    /// The largest backoff after a 5xx.
    static let maxBackoff: Duration = .seconds(10)
    /// The wait after a 429 that says neither `retry_after` nor `Retry-After`.
    static let defaultRetryAfter: Duration = .seconds(1)

    /// Makes a discovery client.
    /// - Parameters:
    ///   - apiBaseURL: the HTTP API base, e.g. `https://discord.com/api/v10`.
    ///   - token: the bot token; sent only in the `Authorization` header of `/gateway/bot`.
    ///   - clock: the clock retry waits sleep on.
    ///   - maxAttempts: the most requests per call, retries included (values below 1 count as 1).
    ///   - connectTimeout: how long the TCP connect may take (real time).
    ///   - requestTimeout: how long one request may take in all (real time).
    ///   - additionalTrustRoots: certificate authorities trusted besides the system's roots (see
    ///     ``TLSTrustRoot``); one that cannot be loaded makes each call throw ``TLSTrustRootError``.
    ///   - logger: logs retries at `notice`; never logs the token.
    public init(
        apiBaseURL: String = "https://discord.com/api/v10", token: BotToken, clock: GatewayClock = .continuous,
        maxAttempts: Int = 5, connectTimeout: Duration = .seconds(10), requestTimeout: Duration = .seconds(30),
        additionalTrustRoots: [TLSTrustRoot] = [], logger: Logger = Logger(label: "echord.discovery")
    ) {
        self.additionalTrustRoots = additionalTrustRoots
        self.apiBaseURL = apiBaseURL
        self.token = token
        self.clock = clock
        self.maxAttempts = max(1, maxAttempts)
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.logger = logger
    }

    /// `GET {base}/gateway/bot` with `Authorization: Bot <token>`: the URL, the recommended shard
    /// count and the session start limit.
    public func gatewayBot() async throws -> GatewayBotInfo {
        try await fetch(GatewayBotInfo.self, route: "/gateway/bot", authorized: true)
    }

    /// `GET {base}/gateway` (no token): the gateway URL.
    public func gateway() async throws -> String {
        struct Answer: Decodable { var url: String }
        return try await fetch(Answer.self, route: "/gateway", authorized: false).url
    }

    // MARK: Retry policy

    private func fetch<T: Decodable>(_ type: T.Type, route: String, authorized: Bool) async throws -> T {
        guard let endpoint = HTTPEndpoint(apiBaseURL) else { throw GatewayDiscoveryError.invalidURL(apiBaseURL) }
        var headers: [(String, String)] = [("Accept", "application/json")]
        if authorized { headers.append(("Authorization", "Bot \(token.rawValue)")) }
        if endpoint.secure, !additionalTrustRoots.isEmpty { _ = try SharedTLS.context(trusting: additionalTrustRoots) }
        let client = DiscoveryHTTPClient(
            connectTimeout: connectTimeout, requestTimeout: requestTimeout, trustRoots: additionalTrustRoots)
        var attempt = 0
        while true {
            attempt += 1
            let last = attempt >= maxAttempts
            let response: DiscoveryHTTPResponse
            do {
                response = try await client.get(endpoint, path: endpoint.path + route, headers: headers)
            } catch let error as GatewayDiscoveryError {
                // A failed connection or a timeout is retried with backoff, like a server error.
                guard !last, error == .timedOut || { if case .connectionFailed = error { true } else { false } }() else {
                    throw error
                }
                let delay = Self.backoff(afterAttempt: attempt)
                logger.notice(
                    "gateway discovery failed to connect; retrying",
                    metadata: ["route": "\(route)", "error": "\(error)", "delay": "\(delay)", "attempt": "\(attempt)"])
                try await clock.sleep(for: delay)
                continue
            }
            switch response.status {
            case 200..<300:
                do {
                    return try JSONDecoder().decode(T.self, from: Data(response.body))
                } catch {
                    throw GatewayDiscoveryError.unexpectedResponse(status: response.status, body: redactedBody(response.body))
                }
            case 401:
                let message = Self.errorBody(response.body)?.message
                throw GatewayDiscoveryError.unauthorized(message: message.map { redacted($0).escapedForLog(limit: 512) } ?? "401: Unauthorized")
            case 429:
                let (retryAfter, global) = Self.rateLimit(response)
                if last { throw GatewayDiscoveryError.rateLimited(retryAfter: retryAfter, global: global) }
                logger.notice(
                    global ? "global rate limit on gateway discovery; waiting" : "rate limited on gateway discovery; waiting",
                    metadata: ["route": "\(route)", "retry_after": "\(retryAfter)", "global": "\(global)", "attempt": "\(attempt)"])
                try await clock.sleep(for: retryAfter)
            case 500..<600:
                if last { throw GatewayDiscoveryError.serverError(status: response.status) }
                let delay = Self.backoff(afterAttempt: attempt)
                logger.notice(
                    "gateway discovery got a server error; retrying",
                    metadata: ["route": "\(route)", "status": "\(response.status)", "delay": "\(delay)", "attempt": "\(attempt)"])
                try await clock.sleep(for: delay)
            default:
                throw GatewayDiscoveryError.unexpectedResponse(status: response.status, body: redactedBody(response.body))
            }
        }
    }

    /// A random wait in `0...min(maxBackoff, baseBackoff × 2^(attempt-1))` (full jitter).
    static func backoff(afterAttempt attempt: Int) -> Duration {
        let cap = backoffCap(afterAttempt: attempt)
        let nanos = cap.nanoseconds
        return nanos > 0 ? .nanoseconds(Int64.random(in: 0...nanos)) : .zero
    }

    /// The upper bound of the wait after the `attempt`-th request failed with a 5xx.
    static func backoffCap(afterAttempt attempt: Int) -> Duration {
        let doublings = min(max(attempt - 1, 0), 16)
        return min(maxBackoff, baseBackoff * (1 << doublings))
    }

    /// The wait and scope of a 429: `retry_after` (seconds, float) and `global` from the JSON body,
    /// else the `Retry-After` and `X-RateLimit-Global`/`X-RateLimit-Scope` headers.
    static func rateLimit(_ response: DiscoveryHTTPResponse) -> (Duration, Bool) {
        let json = errorBody(response.body)
        let bodySeconds = json?.retryAfter
        let headerSeconds = response.header("Retry-After").flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        let seconds = [bodySeconds, headerSeconds].compactMap { $0 }.first { $0.isFinite && $0 >= 0 }
        let retryAfter = seconds.map { Duration.nanoseconds(Int64(($0 * 1e9).rounded(.up).clamped(to: 0...9e18))) }
        let global = json?.global == true
            || response.header("X-RateLimit-Global")?.lowercased() == "true"
            || response.header("X-RateLimit-Scope")?.lowercased() == "global"
        return (retryAfter ?? defaultRetryAfter, global)
    }

    /// The fields of Discord's error bodies that discovery reads.
    struct ErrorBody: Decodable {
        var message: String?
        var retryAfter: Double?
        var global: Bool?

        enum CodingKeys: String, CodingKey {
            case message, retryAfter = "retry_after", global
        }

        /// Reads each field on its own, so one field of an unexpected type does not hide the others.
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            message = try? container.decodeIfPresent(String.self, forKey: .message)
            retryAfter = try? container.decodeIfPresent(Double.self, forKey: .retryAfter)
            global = try? container.decodeIfPresent(Bool.self, forKey: .global)
        }
    }

    private static func errorBody(_ body: [UInt8]) -> ErrorBody? {
        try? JSONDecoder().decode(ErrorBody.self, from: Data(body))
    }

    private func redacted(_ text: String) -> String { BotToken.redacting(token.rawValue, in: text) }

    /// The body as text, token redacted, escaped for one log line and cut to 512 characters.
    private func redactedBody(_ body: [UInt8]) -> String {
        redacted(String(decoding: body, as: UTF8.self)).escapedForLog(limit: 512)
    }
}

extension Double {
    fileprivate func clamped(to range: ClosedRange<Double>) -> Double { Swift.min(Swift.max(self, range.lowerBound), range.upperBound) }
}
