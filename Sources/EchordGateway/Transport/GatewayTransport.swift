#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// Transport settings of a shard's connection.
public struct GatewayTransportConfiguration: Sendable {
    /// How long the TCP (and TLS) connect may take.
    public var connectTimeout: Duration = .seconds(10)
    /// How long the WebSocket upgrade may take once connected (NIO has no timeout of its own).
    public var handshakeTimeout: Duration = .seconds(10)
    /// The largest WebSocket message accepted (READY and GUILD_CREATE can be several MiB).
    public var maxMessageSize: Int = 32 << 20

    /// The defaults: 10 s to connect, 10 s to upgrade, 32 MiB messages.
    public init() {}
}

/// Why a connection could not be opened or used.
public enum GatewayTransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The URL is not a `ws://` or `wss://` URL.
    case invalidURL(String)
    /// The server answered the upgrade request without upgrading (status).
    case upgradeRefused(status: Int)
    /// The WebSocket upgrade took longer than the handshake timeout.
    case handshakeTimedOut
    /// The TCP connection was not established within the connect timeout.
    case connectTimedOut
    /// The peer reset the connection during the handshake.
    case connectionReset
    /// The connection failed (described: refused, unreachable, DNS, …).
    case connectionFailed(String)
    /// The TLS handshake failed: the certificate is not trusted, does not name the host, or the
    /// server spoke no TLS (described). The connection was never used.
    case tlsFailed(String)

    public var description: String {
        switch self {
        case .invalidURL(let url): "not a ws:// or wss:// URL: \(url)"
        case .upgradeRefused(let status): "the server refused the WebSocket upgrade (HTTP \(status))"
        case .handshakeTimedOut: "the WebSocket handshake timed out"
        case .connectTimedOut: "the TCP connection timed out"
        case .connectionReset: "the connection was reset during the handshake"
        case .connectionFailed(let what): "connection failed: \(what)"
        case .tlsFailed(let what): "TLS handshake failed: \(what)"
        }
    }

    /// The error as a transport error, saying what happened where NIO's error allows it.
    static func classify(_ error: any Error, during phase: String) -> GatewayTransportError {
        if let error = error as? GatewayTransportError { return error }
        if let error = error as? ChannelError, case .connectTimeout = error { return .connectTimedOut }
        if let error = error as? IOError, error.errnoCode == ECONNRESET { return .connectionReset }
        if let error = error as? NIOConnectionError {
            let timedOut = error.connectionErrors.contains {
                if let channelError = $0.error as? ChannelError, case .connectTimeout = channelError { true } else { false }
            }
            if timedOut { return .connectTimedOut }
            if let first = error.connectionErrors.first { return .connectionFailed("\(phase): \(first.error)") }
        }
        return .connectionFailed("\(phase): \(error)")
    }
}

/// Opens gateway WebSockets on SwiftNIO: TCP, TLS for `wss`, the HTTP/1.1 upgrade (with the bytes
/// that arrive with the `101` forwarded, since HELLO often does), and frame aggregation up to
/// ``GatewayTransportConfiguration/maxMessageSize``.
enum GatewayTransport {
    private enum Upgrade: Sendable {
        case upgraded(Channel)
        /// Not upgraded: the response's status arrives once the upgrade handler passes the
        /// response on (see ``RefusalRecorder``).
        case refused(status: EventLoopFuture<Int>, channel: Channel)
    }

    /// Most reads per wake-up of a gateway channel. NIO's pool keeps one receive buffer per read of
    /// a wake-up, at the size the allocator last asked for, for the channel's life; a gateway socket
    /// carries a message now and then, not a stream, so one read per wake-up keeps one buffer.
    static let maxMessagesPerRead: UInt = 1
    /// The receive buffer: small while idle (a heartbeat ACK is a few dozen bytes), growing for a
    /// burst up to 4 KiB. The pooled buffer keeps the size it grew to, so the cap is what an idle
    /// channel keeps after traffic; a large READY or GUILD_CREATE takes more reads, not more memory.
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: receiveReadLimit)
    /// The most bytes one read of a gateway socket takes (the receive allocator's cap).
    static let receiveReadLimit = 4096

    /// Opens the WebSocket and hands its channel to `upgraded` (on the event loop, once the
    /// upgrade is done, with the frame aggregator in place) to add its handler; returns the channel.
    static func connect(
        to url: GatewayURL, compression: GatewayCompression, configuration: GatewayTransportConfiguration,
        trustRoots: [TLSTrustRoot] = [], group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        upgraded: @escaping @Sendable (Channel) throws -> Void
    ) async throws -> Channel {
        let tls: NIOSSLContext? = url.secure ? try SharedTLS.context(trusting: trustRoots) : nil
        let tlsFailure = NIOLockedValueBox<String?>(nil)
        let timedOut = NIOLockedValueBox(false)
        let maxMessage = configuration.maxMessageSize
        let target = url.requestTarget(compression: compression)
        let hostName = url.host.contains(":") ? "[\(url.host)]" : url.host  // an IPv6 literal in brackets
        let hostHeader = url.port == (url.secure ? 443 : 80) ? hostName : "\(hostName):\(url.port)"
        let upgrade: EventLoopFuture<Upgrade>
        do {
            upgrade = try await ClientBootstrap(group: group)
                .connectTimeout(.nanoseconds(Int64(configuration.connectTimeout.nanoseconds)))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelOption(.maxMessagesPerRead, value: maxMessagesPerRead)
                .channelOption(.recvAllocator, value: receiveAllocator)
                .connect(host: url.host, port: url.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addTLSClientHandlers(context: tls, host: url.host, failure: tlsFailure)
                        }
                        let upgrader = NIOTypedWebSocketClientUpgrader<Upgrade>(
                            maxFrameSize: maxMessage,
                            upgradePipelineHandler: { channel, _ in
                                channel.eventLoop.makeCompletedFuture {
                                    try channel.pipeline.syncOperations.addHandler(
                                        NIOWebSocketFrameAggregator(
                                            minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16,
                                            maxAccumulatedFrameSize: maxMessage))
                                    try upgraded(channel)
                                    return .upgraded(channel)
                                }
                            })
                        var headers = HTTPHeaders()
                        headers.add(name: "Host", value: hostHeader)
                        headers.add(name: "User-Agent", value: "Echord (https://github.com/echord, 0.1)")
                        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: target, headers: headers)
                        var pipeline = NIOUpgradableHTTPClientPipelineConfiguration(
                            upgradeConfiguration: .init(
                                upgradeRequestHead: head, upgraders: [upgrader],
                                notUpgradingCompletionHandler: { channel in
                                    channel.eventLoop.makeCompletedFuture {
                                        let recorder = RefusalRecorder(promise: channel.eventLoop.makePromise())
                                        try channel.pipeline.syncOperations.addHandler(recorder)
                                        return .refused(status: recorder.promise.futureResult, channel: channel)
                                    }
                                }))
                        pipeline.leftOverBytesStrategy = .forwardBytes
                        let result = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                            configuration: pipeline)
                        // NIO has no upgrade timeout: close the channel if the 101 takes too long.
                        let timeout = channel.eventLoop.scheduleTask(
                            in: .nanoseconds(Int64(configuration.handshakeTimeout.nanoseconds))
                        ) {
                            timedOut.withLockedValue { $0 = true }
                            channel.close(promise: nil)
                        }
                        result.whenComplete { _ in timeout.cancel() }
                        return result
                    }
                }
        } catch {
            // The handshake timer starts in the channel initializer, before the TCP connect has
            // completed: on a slow machine it can close the channel while connect is still pending
            // (seen under AddressSanitizer), which fails the connect with "I/O on closed channel".
            if timedOut.withLockedValue({ $0 }) { throw GatewayTransportError.handshakeTimedOut }
            throw GatewayTransportError.classify(error, during: "\(url.host):\(url.port)")
        }
        do {
            switch try await upgrade.get() {
            case .upgraded(let socket):
                return socket
            case .refused(let status, let channel):
                let code = (try? await status.get()) ?? 0
                try? await channel.close()
                throw GatewayTransportError.upgradeRefused(status: code)
            }
        } catch let error as GatewayTransportError {
            throw error
        } catch {
            // Our timer closed the channel (whatever the TLS handler then reported), or a TLS failure
            // did: name either rather than the closed channel it leaves behind.
            if timedOut.withLockedValue({ $0 }) { throw GatewayTransportError.handshakeTimedOut }
            if let reason = tlsFailure.withLockedValue({ $0 }) {
                throw GatewayTransportError.tlsFailed("\(url.host):\(url.port): \(reason)")
            }
            throw GatewayTransportError.classify(error, during: "WebSocket handshake with \(url.host):\(url.port)")
        }
    }
}

/// Added after a refused upgrade: reads the status of the response the upgrade handler passes on.
final class RefusalRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    let promise: EventLoopPromise<Int>
    private var done = false

    init(promise: EventLoopPromise<Int>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done, case .head(let head) = unwrapInboundIn(data) else { return }
        done = true
        promise.succeed(Int(head.status.code))
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            promise.fail(ChannelError.eof)
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if !done {
            done = true
            promise.fail(ChannelError.eof)
        }
    }
}

extension Duration {
    /// Whole nanoseconds (saturating at `Int64.max`).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : product + attoseconds / 1_000_000_000
    }
}

extension String {
    var isIPAddress: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}
