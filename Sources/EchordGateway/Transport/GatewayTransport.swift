import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

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
    ///
    /// The work around the two awaits is in ``Attempt``'s synchronous methods: this runs in a child
    /// task of every shard, and a small async frame keeps the task allocator to fewer slabs (freed
    /// slabs leave holes in malloc's arenas when many shards connect at once).
    static func connect(
        to url: GatewayURL, compression: GatewayCompression, configuration: GatewayTransportConfiguration,
        trustRoots: [TLSTrustRoot] = [], group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        upgraded: @escaping @Sendable (Channel) throws -> Void
    ) async throws -> Channel {
        let attempt = try Attempt(
            url: url, compression: compression, configuration: configuration, trustRoots: trustRoots, upgraded: upgraded)
        let upgrade: EventLoopFuture<Upgrade>
        do {
            upgrade = try await attempt.bootstrap(group: group).connect(host: url.host, port: url.port) { channel in
                attempt.initialize(channel)
            }
        } catch {
            throw attempt.connectFailure(error)
        }
        let result: Upgrade
        do {
            result = try await upgrade.get()
        } catch {
            throw attempt.handshakeFailure(error)
        }
        switch result {
        case .upgraded(let socket):
            return socket
        case .refused(let status, let channel):
            throw await refused(status: status, channel: channel)
        }
    }

    /// The server answered the upgrade with another status: the channel is closed.
    private static func refused(status: EventLoopFuture<Int>, channel: Channel) async -> GatewayTransportError {
        let code = (try? await status.get()) ?? 0
        try? await channel.close()
        return .upgradeRefused(status: code)
    }

    /// One connection attempt: what its channel initializer and error mapping need.
    private final class Attempt: Sendable {
        let url: GatewayURL
        let tls: NIOSSLContext?
        let tlsFailure = NIOLockedValueBox<String?>(nil)
        let timedOut = NIOLockedValueBox(false)
        let configuration: GatewayTransportConfiguration
        let target: String
        let hostHeader: String
        let upgraded: @Sendable (Channel) throws -> Void

        init(
            url: GatewayURL, compression: GatewayCompression, configuration: GatewayTransportConfiguration,
            trustRoots: [TLSTrustRoot], upgraded: @escaping @Sendable (Channel) throws -> Void
        ) throws {
            self.url = url
            self.tls = url.secure ? try SharedTLS.context(trusting: trustRoots) : nil
            self.configuration = configuration
            self.target = url.requestTarget(compression: compression)
            let hostName = url.host.contains(":") ? "[\(url.host)]" : url.host  // an IPv6 literal in brackets
            self.hostHeader = url.port == (url.secure ? 443 : 80) ? hostName : "\(hostName):\(url.port)"
            self.upgraded = upgraded
        }

        func bootstrap(group: any EventLoopGroup) -> ClientBootstrap {
            ClientBootstrap(group: group)
                .connectTimeout(.nanoseconds(Int64(configuration.connectTimeout.nanoseconds)))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelOption(.maxMessagesPerRead, value: maxMessagesPerRead)
                .channelOption(.recvAllocator, value: receiveAllocator)
        }

        /// The channel initializer: TLS for `wss`, the HTTP upgrade, and the upgrade's timeout.
        func initialize(_ channel: Channel) -> EventLoopFuture<EventLoopFuture<Upgrade>> {
            channel.eventLoop.makeCompletedFuture {
                if let tls {
                    try channel.pipeline.syncOperations.addTLSClientHandlers(context: tls, host: url.host, failure: tlsFailure)
                }
                let maxMessage = configuration.maxMessageSize
                let upgraded = self.upgraded
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
                let timedOut = self.timedOut
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

        /// The error of a failed connect.
        func connectFailure(_ error: any Error) -> any Error {
            // The handshake timer starts in the channel initializer, before the TCP connect has
            // completed: on a slow machine it can close the channel while connect is still pending
            // (seen under AddressSanitizer), which fails the connect with "I/O on closed channel".
            if timedOut.withLockedValue({ $0 }) { return GatewayTransportError.handshakeTimedOut }
            return GatewayTransportError.classify(error, during: "\(url.host):\(url.port)")
        }

        /// The error of a failed upgrade.
        func handshakeFailure(_ error: any Error) -> any Error {
            if let error = error as? GatewayTransportError { return error }
            // Our timer closed the channel (whatever the TLS handler then reported), or a TLS failure
            // did: name either rather than the closed channel it leaves behind.
            if timedOut.withLockedValue({ $0 }) { return GatewayTransportError.handshakeTimedOut }
            if let reason = tlsFailure.withLockedValue({ $0 }) {
                return GatewayTransportError.tlsFailed("\(url.host):\(url.port): \(reason)")
            }
            return GatewayTransportError.classify(error, during: "WebSocket handshake with \(url.host):\(url.port)")
        }
    }
}

extension String {
    var isIPAddress: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}
