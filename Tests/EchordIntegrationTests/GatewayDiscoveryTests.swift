#if canImport(Glibc)
import Glibc
#endif
import EchordGateway
import EchordTesting
import EchordModels
import EchordSimulator
import EchordTestSupport
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

// MARK: - A scripted HTTP server

/// A canned answer of ``ScriptedHTTPServer``.
enum ScriptedReply: Sendable {
    /// Answer with this status, headers and body, then close.
    case respond(status: Int, headers: [String: String] = [:], body: String)
    /// Never answer (the client must time out).
    case hang

    static func json(_ status: Int, _ body: String, headers: [String: String] = [:]) -> ScriptedReply {
        .respond(status: status, headers: headers.merging(["Content-Type": "application/json"]) { $1 }, body: body)
    }
}

/// A request the scripted server received.
struct ScriptedRequest: Sendable {
    var method: String
    var uri: String
    var headers: HTTPHeaders
}

/// An HTTP/1.1 server on 127.0.0.1 (port 0) that answers each request with the next canned reply
/// and records every request. With no replies left it answers 418.
final class ScriptedHTTPServer: Sendable {
    struct State {
        var replies: [ScriptedReply]
        var requests: [ScriptedRequest] = []
    }

    let port: Int
    private let channel: any NIOCore.Channel
    private let state: LockedBox<State>

    private init(port: Int, channel: any NIOCore.Channel, state: LockedBox<State>) {
        self.port = port
        self.channel = channel
        self.state = state
    }

    static func start(_ replies: [ScriptedReply]) async throws -> ScriptedHTTPServer {
        let state = LockedBox(State(replies: replies))
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(ScriptedHandler(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ScriptedHTTPServer(port: channel.localAddress?.port ?? 0, channel: channel, state: state)
    }

    /// `http://127.0.0.1:PORT/api/v10`.
    var apiBaseURL: String { "http://127.0.0.1:\(port)/api/v10" }
    /// The requests received so far.
    var requests: [ScriptedRequest] { state.value.requests }

    func shutdown() async {
        try? await channel.close()
    }

    private final class ScriptedHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let state: LockedBox<State>
        var head: HTTPRequestHead?

        init(state: LockedBox<State>) { self.state = state }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): self.head = head
            case .body: break
            case .end:
                guard let head else { return }
                var reply: ScriptedReply = .respond(status: 418, body: "script exhausted")
                state.mutate { state in
                    state.requests.append(ScriptedRequest(method: head.method.rawValue, uri: head.uri, headers: head.headers))
                    if !state.replies.isEmpty { reply = state.replies.removeFirst() }
                }
                guard case .respond(let status, let extra, let body) = reply else { return }
                var headers = HTTPHeaders()
                for (name, value) in extra { headers.add(name: name, value: value) }
                headers.add(name: "Content-Length", value: "\(body.utf8.count)")
                headers.add(name: "Connection", value: "close")
                let response = HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers)
                context.write(wrapOutboundOut(.head(response)), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}

// MARK: - Helpers

/// Waits (real time, bounded) until `condition` holds.
private func eventually(_ what: String, timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + TestTime.bound(timeout)
    while !condition() {
        guard ContinuousClock.now < deadline else { throw HarnessError.timedOut(what) }
        try await Task.sleep(for: .milliseconds(5))
    }
}

private let validBody = """
    {"url": "wss://gateway.example/", "shards": 9,
     "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 16}}
    """
private let validInfo = GatewayBotInfo(
    url: "wss://gateway.example/", shards: 9,
    sessionStartLimit: SessionStartLimit(total: 1000, remaining: 999, resetAfter: .seconds(14_400), maxConcurrency: 16))

// MARK: - Tests

@Suite("GatewayDiscovery", .timeLimit(.minutes(TestTime.scale)))
struct GatewayDiscoveryTests {
    static let token = "MTE5MTE2ODkxNDIyNzMzMTA3Mw.fake.x"

    /// Runs `body` with a scripted server and a discovery client on a manual clock.
    func scripted(
        _ replies: [ScriptedReply], maxAttempts: Int = 5, requestTimeout: Duration = .seconds(10),
        lines: LockedBox<[String]> = LockedBox([]),
        _ body: (ScriptedHTTPServer, GatewayDiscovery, ManualClock) async throws -> Void
    ) async throws {
        let server = try await ScriptedHTTPServer.start(replies)
        let clock = ManualClock()
        let discovery = GatewayDiscovery(
            apiBaseURL: server.apiBaseURL, token: BotToken(Self.token), clock: GatewayClock(clock),
            maxAttempts: maxAttempts, connectTimeout: TestTime.bound(.seconds(10)), requestTimeout: TestTime.bound(requestTimeout),
            logger: Logger(label: "echord.test") { _ in RecordingLogHandler(lines: lines) })
        do {
            try await body(server, discovery, clock)
        } catch {
            await server.shutdown()
            throw error
        }
        await server.shutdown()
        #expect(!lines.value.contains { $0.contains(Self.token) }, "a log line contains the token")
    }

    /// The value of `call`, cancelling it when this test is cancelled (its time limit): a discovery
    /// that backs off on a manual clock nobody moves then ends instead of holding the run.
    func valueOf<T: Sendable>(_ call: Task<T, any Error>) async throws -> T {
        try await withTaskCancellationHandler { try await call.value } onCancel: { call.cancel() }
    }

    /// Waits until the client has made `count` requests and then either sleeps on the clock or has
    /// already sent the next request (full jitter may pick zero).
    func waitForBackoff(_ server: ScriptedHTTPServer, _ clock: ManualClock, after count: Int) async throws {
        try await eventually("request \(count), then a backoff") {
            (server.requests.count == count && clock.sleeperCount == 1) || server.requests.count > count
        }
    }

    // MARK: Against the simulator

    func withSimulator(
        _ configure: (inout SimulatorConfiguration) -> Void = { _ in }, _ body: (GatewaySimulator) async throws -> Void
    ) async throws {
        var configuration = SimulatorConfiguration()
        configuration.timeSource = .manual
        configure(&configuration)
        var quiet = Logger(label: "echord.test")
        quiet.logLevel = .critical
        let simulator = try await GatewaySimulator.start(configuration: configuration, logger: quiet)
        do {
            try await body(simulator)
        } catch {
            try? await simulator.shutdown()
            throw error
        }
        try await simulator.shutdown()
    }

    @Test("gatewayBot() returns the simulator's URL, shard count and session start limit as configured")
    func simulatorGatewayBot() async throws {
        try await withSimulator({ configuration in
            configuration.recommendedShards = 3
            configuration.sessionStartLimitTotal = 1000
            configuration.sessionStartLimitRemaining = 997
            configuration.sessionStartLimitResetMilliseconds = 3_600_000
            configuration.maxConcurrency = 4
        }) { simulator in
            let discovery = GatewayDiscovery(apiBaseURL: simulator.apiBaseURL, token: BotToken(Self.token), clock: GatewayClock(ManualClock()))
            let info = try await discovery.gatewayBot()
            #expect(info == GatewayBotInfo(
                url: simulator.gatewayURL, shards: 3,
                sessionStartLimit: SessionStartLimit(total: 1000, remaining: 997, resetAfter: .seconds(3600), maxConcurrency: 4)))
            // A trailing slash on the base URL makes no difference.
            let slashed = GatewayDiscovery(apiBaseURL: simulator.apiBaseURL + "/", token: BotToken(Self.token))
            #expect(try await slashed.gatewayBot().url == simulator.gatewayURL)
        }
    }

    @Test("a token the simulator refuses is .unauthorized with its message")
    func simulatorUnauthorized() async throws {
        try await withSimulator({ $0.acceptedTokens = [Self.token] }) { simulator in
            for bad in ["MTE5MTE2ODkxNDIyNzMzMTA3Mw.fake.wrong", "not-a-token"] {
                let discovery = GatewayDiscovery(apiBaseURL: simulator.apiBaseURL, token: BotToken(bad), clock: GatewayClock(ManualClock()))
                await #expect(throws: GatewayDiscoveryError.unauthorized(message: "401: Unauthorized")) {
                    try await discovery.gatewayBot()
                }
            }
        }
    }

    @Test("gateway() returns the simulator's gateway URL without a token")
    func simulatorGateway() async throws {
        try await withSimulator({ $0.acceptedTokens = [Self.token] }) { simulator in
            let discovery = GatewayDiscovery(apiBaseURL: simulator.apiBaseURL, token: BotToken("refused.token.here"))
            let url = try await discovery.gateway()
            #expect(url == simulator.gatewayURL)
        }
    }

    // MARK: Scripted: rate limits

    @Test("429 with retry_after 2.5: no retry before 2.5 s of clock time, a retry after, then success")
    func rateLimitedBody() async throws {
        let limited = #"{"message": "You are being rate limited.", "retry_after": 2.5, "global": false}"#
        try await scripted([.json(429, limited), .json(200, validBody)]) { server, discovery, clock in
            let call = Task { try await discovery.gatewayBot() }
            try await eventually("the client waits on the clock") { server.requests.count == 1 && clock.sleeperCount == 1 }
            #expect(clock.nextDeadline == ManualClock.Instant(offset: .milliseconds(2500)))
            clock.advance(by: .milliseconds(2400))
            try await Task.sleep(for: .milliseconds(100))
            #expect(server.requests.count == 1, "retried before retry_after passed")
            clock.advance(by: .milliseconds(100))
            #expect(try await valueOf(call) == validInfo)
            #expect(server.requests.count == 2)
        }
    }

    @Test("429 with only a Retry-After header waits that long")
    func rateLimitedHeader() async throws {
        try await scripted([.respond(status: 429, headers: ["Retry-After": "3"], body: "slow down"), .json(200, validBody)]) {
            server, discovery, clock in
            let call = Task { try await discovery.gatewayBot() }
            try await eventually("the client waits on the clock") { clock.sleeperCount == 1 }
            #expect(clock.nextDeadline == ManualClock.Instant(offset: .seconds(3)))
            #expect(server.requests.count == 1)
            clock.advance(by: .seconds(3))
            #expect(try await valueOf(call) == validInfo)
            #expect(server.requests.count == 2)
        }
    }

    @Test("a global 429 is logged as global and honoured; with no attempts left it is .rateLimited(global: true)")
    func rateLimitedGlobal() async throws {
        let global = #"{"message": "You are being rate limited.", "retry_after": 1.25, "global": true}"#
        let lines = LockedBox<[String]>([])
        try await scripted([.json(429, global), .json(200, validBody)], lines: lines) { server, discovery, clock in
            let call = Task { try await discovery.gatewayBot() }
            try await eventually("the client waits on the clock") { clock.sleeperCount == 1 }
            #expect(clock.nextDeadline == ManualClock.Instant(offset: .milliseconds(1250)))
            clock.advance(by: .milliseconds(1250))
            #expect(try await valueOf(call) == validInfo)
        }
        #expect(lines.value.contains { $0.hasPrefix("notice") && $0.contains("global rate limit") })

        try await scripted([.json(429, global), .json(429, global), .json(200, validBody)], maxAttempts: 2) {
            server, discovery, clock in
            let call = Task { try await discovery.gatewayBot() }
            try await eventually("the client waits on the clock") { clock.sleeperCount == 1 }
            clock.advance(by: .milliseconds(1250))
            await #expect(throws: GatewayDiscoveryError.rateLimited(retryAfter: .milliseconds(1250), global: true)) {
                try await valueOf(call)
            }
            #expect(server.requests.count == 2)
        }
    }

    // MARK: Scripted: server errors

    @Test("503, 503, 200 succeeds after two backoffs within 0.5 s and 1 s")
    func serverErrorsThenSuccess() async throws {
        try await scripted([.json(503, "{}"), .json(503, "{}"), .json(200, validBody)]) { server, discovery, clock in
            let call = Task { try await discovery.gatewayBot() }
            for (count, cap) in [(1, Duration.milliseconds(500)), (2, .seconds(1))] {
                try await waitForBackoff(server, clock, after: count)
                if let deadline = clock.nextDeadline {
                    #expect(deadline.offset <= clock.now.offset + cap, "backoff \(count) above its cap \(cap)")
                }
                clock.advance(by: cap)
                try await eventually("request \(count + 1)") { server.requests.count == count + 1 }
            }
            #expect(try await valueOf(call) == validInfo)
            #expect(server.requests.count == 3)
        }
    }

    @Test("500 on every attempt is .serverError(500) after exactly maxAttempts requests")
    func serverErrorsExhausted() async throws {
        try await scripted(Array(repeating: .json(500, "{}"), count: 6) + [.json(200, validBody)]) { server, discovery, clock in
            let finished = LockedBox(false)
            let call = Task {
                defer { finished.mutate { $0 = true } }
                return try await discovery.gatewayBot()
            }
            let caps: [Duration] = [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4)]
            for (index, cap) in caps.enumerated() {
                try await waitForBackoff(server, clock, after: index + 1)
                if let deadline = clock.nextDeadline {
                    #expect(deadline.offset <= clock.now.offset + cap)
                }
                clock.advance(by: cap)
            }
            try await eventually("request 5") { server.requests.count >= 5 }
            // Either the call ends, or it sleeps on the clock to retry a sixth time (which would be wrong).
            try await eventually("the call ends or waits to retry") { finished.value || clock.sleeperCount > 0 }
            #expect(clock.sleeperCount == 0, "still retrying after maxAttempts requests")
            if !finished.value { call.cancel() }
            await #expect(throws: GatewayDiscoveryError.serverError(status: 500)) { try await valueOf(call) }
            #expect(server.requests.count == 5)
        }
    }

    // MARK: Scripted: other answers

    @Test("401 fails at once with Discord's message: one request only")
    func unauthorizedNoRetry() async throws {
        try await scripted([.json(401, #"{"message": "401: Unauthorized", "code": 0}"#), .json(200, validBody)]) {
            server, discovery, clock in
            let finished = LockedBox(false)
            let call = Task {
                defer { finished.mutate { $0 = true } }
                return try await discovery.gatewayBot()
            }
            // Either the call ends, or it sleeps on the manual clock to retry (which would be wrong).
            try await eventually("the call ends or waits to retry") { finished.value || clock.sleeperCount > 0 }
            #expect(clock.sleeperCount == 0, "waiting to retry a 401")
            if !finished.value { call.cancel() }
            await #expect(throws: GatewayDiscoveryError.unauthorized(message: "401: Unauthorized")) { try await valueOf(call) }
            #expect(server.requests.count == 1)
        }
    }

    @Test("the wire request: GET on the API path, Authorization: Bot <token> for /gateway/bot, none for /gateway")
    func requestOnTheWire() async throws {
        try await scripted([.json(200, validBody), .json(200, #"{"url": "wss://gateway.example/"}"#)]) { server, discovery, _ in
            #expect(try await discovery.gatewayBot() == validInfo)
            #expect(try await discovery.gateway() == "wss://gateway.example/")
            let requests = server.requests
            try #require(requests.count == 2)
            #expect(requests[0].method == "GET")
            #expect(requests[0].uri == "/api/v10/gateway/bot")
            #expect(requests[0].headers["Authorization"] == ["Bot \(Self.token)"])
            #expect(requests[0].headers["Host"] == ["127.0.0.1:\(server.port)"])
            #expect(requests[0].headers["User-Agent"].first?.hasPrefix("DiscordBot (") == true)
            #expect(requests[1].uri == "/api/v10/gateway")
            #expect(requests[1].headers["Authorization"].isEmpty)
        }
    }

    @Test("a malformed 200 body or an unexpected status is .unexpectedResponse, with the token redacted")
    func malformedAndUnexpected() async throws {
        let echoesToken = #"{"url": 5, "echo": "\#(Self.token)"}"#
        try await scripted([.json(200, echoesToken), .json(404, #"{"message": "404: Not Found"}"#)]) { server, discovery, _ in
            await #expect {
                try await discovery.gatewayBot()
            } throws: { error in
                guard case .unexpectedResponse(200, let body) = error as? GatewayDiscoveryError else { return false }
                return !body.contains(Self.token) && body.contains("<redacted>") && !"\(error)".contains(Self.token)
            }
            await #expect(throws: GatewayDiscoveryError.unexpectedResponse(status: 404, body: #"{"message": "404: Not Found"}"#)) {
                try await discovery.gatewayBot()
            }
            #expect(server.requests.count == 2)
        }
    }

    @Test("a server that never answers is .timedOut after the request timeout")
    func requestTimeout() async throws {
        try await scripted([.hang], maxAttempts: 1, requestTimeout: .milliseconds(500)) { server, discovery, _ in
            await #expect(throws: GatewayDiscoveryError.timedOut) { try await discovery.gatewayBot() }
            // One attempt at most: on a loaded machine the request may not even have arrived in time.
            #expect(server.requests.count <= 1)
        }
    }

    @Test("a refused connection is .connectionFailed, a failed TLS handshake .tlsFailed; a non-HTTP base URL is .invalidURL")
    func connectionFailures() async throws {
        // A port bound but never listened on refuses connections, and no other server (of this
        // process or another) can take it meanwhile, as it could a port just closed.
        let reserved = try ReservedPort()
        defer { reserved.release() }
        let refused = GatewayDiscovery(apiBaseURL: "http://127.0.0.1:\(reserved.port)/api/v10", token: BotToken(Self.token), maxAttempts: 1)
        await #expect {
            try await refused.gateway()
        } throws: { error in
            if case .connectionFailed = error as? GatewayDiscoveryError { true } else { false }
        }
        // https:// to a plain-HTTP server: the TLS handshake fails, as a typed error.
        let plain = try await ScriptedHTTPServer.start([.json(200, validBody)])
        let tls = GatewayDiscovery(
            apiBaseURL: "https://127.0.0.1:\(plain.port)/api/v10", token: BotToken(Self.token), maxAttempts: 1,
            connectTimeout: TestTime.bound(.seconds(10)), requestTimeout: TestTime.bound(.seconds(10)))
        // NIOSSL reports the failed handshake as a handshake error (the server does not speak TLS)
        // or, under load, as I/O on the channel the server already closed: a connection failure.
        await #expect {
            try await tls.gatewayBot()
        } throws: { error in
            switch error as? GatewayDiscoveryError {
            case .tlsFailed(let reason): reason.contains("does not speak TLS")
            case .connectionFailed: true
            default: false
            }
        }
        #expect(plain.requests.isEmpty)
        await plain.shutdown()
        for url in ["ftp://discord.com/api", "discord.com/api/v10", "http://", "https://host:notaport/api"] {
            let invalid = GatewayDiscovery(apiBaseURL: url, token: BotToken(Self.token))
            await #expect(throws: GatewayDiscoveryError.invalidURL(url)) { try await invalid.gatewayBot() }
        }
    }
}

/// A TCP port on 127.0.0.1 that is bound but not listening: connecting to it is refused.
struct ReservedPort {
    let descriptor: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = fd >= 0 && withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw HarnessError.timedOut("could not reserve a port: errno \(errno)") }
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func release() { close(descriptor) }
}
