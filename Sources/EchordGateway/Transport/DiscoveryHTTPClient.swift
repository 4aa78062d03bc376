import EchordModels
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

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
