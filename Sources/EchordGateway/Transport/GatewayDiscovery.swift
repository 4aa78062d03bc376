import EchordModels
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// What `GET /gateway/bot` answers: where to connect, how many shards Discord recommends and how
/// many session starts remain.
public struct GatewayBotInfo: Sendable, Equatable, Decodable {
    /// The WSS URL to open (`url`).
    public var url: String
    /// The number of shards Discord recommends (`shards`).
    public var shards: Int
    /// The IDENTIFY budget (`session_start_limit`).
    public var sessionStartLimit: SessionStartLimit

    /// Makes an answer from its parts.
    public init(url: String, shards: Int, sessionStartLimit: SessionStartLimit) {
        self.url = url
        self.shards = shards
        self.sessionStartLimit = sessionStartLimit
    }

    enum CodingKeys: String, CodingKey {
        case url, shards, sessionStartLimit = "session_start_limit"
    }
}

/// `session_start_limit` of `GET /gateway/bot`: how many sessions may still be started.
public struct SessionStartLimit: Sendable, Equatable, Decodable {
    /// Session starts allowed per window (`total`, normally 1000).
    public var total: Int
    /// Session starts left in the current window (`remaining`).
    public var remaining: Int
    /// Time until the window resets (`reset_after`, sent in milliseconds).
    public var resetAfter: Duration
    /// How many IDENTIFYs may start per 5-second slot (`max_concurrency`).
    public var maxConcurrency: Int

    /// Makes a limit from its parts.
    public init(total: Int, remaining: Int, resetAfter: Duration, maxConcurrency: Int) {
        self.total = total
        self.remaining = remaining
        self.resetAfter = resetAfter
        self.maxConcurrency = maxConcurrency
    }

    enum CodingKeys: String, CodingKey {
        case total, remaining, resetAfter = "reset_after", maxConcurrency = "max_concurrency"
    }

    /// Decodes the JSON object, reading `reset_after` as milliseconds.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        total = try container.decode(Int.self, forKey: .total)
        remaining = try container.decode(Int.self, forKey: .remaining)
        resetAfter = .milliseconds(try container.decode(Int64.self, forKey: .resetAfter))
        maxConcurrency = try container.decode(Int.self, forKey: .maxConcurrency)
    }
}

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

// MARK: - HTTP/1.1 client

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

/// A complete HTTP response.
struct DiscoveryHTTPResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]

    /// The first value of header `name` (case-insensitive).
    func header(_ name: String) -> String? { headers.first(name: name) }
}

/// One request per connection (`Connection: close`), over TCP or TLS with ``SharedTLS``.
struct DiscoveryHTTPClient: Sendable {
    typealias Connection = NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>

    var connectTimeout: Duration
    var requestTimeout: Duration
    /// Extra CAs trusted for `https://` (one shared TLS context per distinct set).
    var trustRoots: [TLSTrustRoot] = []
    /// The largest response body read.
    var maxBodyBytes = 1 << 20
    var group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton

    func get(_ endpoint: HTTPEndpoint, path: String, headers extra: [(String, String)]) async throws -> DiscoveryHTTPResponse {
        let deadline = NIODeadline.now() + .nanoseconds(requestTimeout.nanoseconds)
        let tls: NIOSSLContext?
        do {
            tls = endpoint.secure ? try SharedTLS.context(trusting: trustRoots) : nil
        } catch {
            throw GatewayDiscoveryError.connectionFailed("TLS is unavailable: \(error)")
        }
        let tlsFailure = NIOLockedValueBox<String?>(nil)
        let connection: Connection
        do {
            connection = try await ClientBootstrap(group: group)
                .connectTimeout(.nanoseconds(min(connectTimeout, requestTimeout).nanoseconds))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: endpoint.host, port: endpoint.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addTLSClientHandlers(
                                context: tls, host: endpoint.host, failure: tlsFailure)
                        }
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        return try Connection(wrappingChannelSynchronously: channel)
                    }
                }
        } catch ChannelError.connectTimeout {
            throw GatewayDiscoveryError.timedOut
        } catch {
            throw GatewayDiscoveryError.connectionFailed("\(endpoint.hostHeader): \(error)")
        }

        let channel = connection.channel
        let timedOut = NIOLockedValueBox(false)
        let timer = channel.eventLoop.scheduleTask(deadline: deadline) {
            timedOut.withLockedValue { $0 = true }
            channel.close(promise: nil)
        }
        defer { timer.cancel() }

        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "Host", value: endpoint.hostHeader)
        head.headers.add(name: "User-Agent", value: "DiscordBot (https://github.com/echord, 0.1)")
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in extra { head.headers.add(name: name, value: value) }
        let request = head
        let limit = maxBodyBytes
        do {
            return try await withTaskCancellationHandler {
                try await connection.executeThenClose { inbound, outbound in
                    // One write: a server may answer (and close) as soon as the head arrives, and a
                    // separate write of the end would then fail on the closed channel.
                    try await outbound.write(contentsOf: [.head(request), .end(nil)])
                    var head: HTTPResponseHead?
                    var body: [UInt8] = []
                    for try await part in inbound {
                        switch part {
                        case .head(let received):
                            // 1xx answers precede the real one.
                            if received.status.code >= 200 { head = received }
                        case .body(let buffer):
                            guard head != nil else { continue }
                            guard body.count + buffer.readableBytes <= limit else {
                                throw GatewayDiscoveryError.connectionFailed("response body larger than \(limit) bytes")
                            }
                            body.append(contentsOf: buffer.readableBytesView)
                        case .end:
                            if let head {
                                return DiscoveryHTTPResponse(status: Int(head.status.code), headers: head.headers, body: body)
                            }
                        }
                    }
                    throw GatewayDiscoveryError.connectionFailed("the connection ended before the response did")
                }
            } onCancel: {
                channel.close(promise: nil)
            }
        } catch {
            if timedOut.withLockedValue({ $0 }) { throw GatewayDiscoveryError.timedOut }
            if Task.isCancelled { throw CancellationError() }
            if let reason = tlsFailure.withLockedValue({ $0 }) {
                throw GatewayDiscoveryError.tlsFailed("\(endpoint.hostHeader): \(reason)")
            }
            if let error = error as? GatewayDiscoveryError { throw error }
            throw GatewayDiscoveryError.connectionFailed("\(endpoint.hostHeader): \(error)")
        }
    }
}
