import Foundation
import NIOCore
import NIOHTTP1

/// Sits in front of NIO's upgrader and holds a connection's first HTTP request to Discord's edge:
///
/// - the request must be complete within ``SimulatorConfiguration/httpRequestTimeoutMilliseconds``
///   of the accept (on the simulator's time source), or the connection is closed;
/// - a WebSocket handshake on a gateway path (any path outside `/api` and `/control` that carries
///   `Upgrade`, `Sec-WebSocket-Key` or `Sec-WebSocket-Version`, and every `/gateway` and `/resume`
///   path) must follow RFC 6455 4.2.1: a GET over HTTP/1.1 with `Host`, `Upgrade: websocket`,
///   `Connection: upgrade`, `Sec-WebSocket-Version: 13` and a `Sec-WebSocket-Key` that is the
///   base64 form of 16 bytes. A bad or missing header gets 400; another version gets 426 with
///   `Sec-WebSocket-Version: 13`. NIO's upgrader checks only the key's presence and the version,
///   and answers anything else like an unknown route.
///
/// It removes itself once the first request has been read (the only one NIO would upgrade).
final class GatewayHandshakeValidator: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let core: SimulatorCore
    private var timeoutID: Int?
    private var refused = false

    init(core: SimulatorCore) { self.core = core }

    func handlerAdded(context: ChannelHandlerContext) {
        timeoutID = core.httpChannelAccepted(context.channel)
    }

    func handlerRemoved(context: ChannelHandlerContext) { releaseTimeout() }

    func channelInactive(context: ChannelHandlerContext) {
        releaseTimeout()
        context.fireChannelInactive()
    }

    private func releaseTimeout() {
        if let timeoutID { core.httpRequestEnded(timeoutID) }
        timeoutID = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            if let refusal = Self.check(head) {
                refused = true
                releaseTimeout()
                refuse(refusal, head: head, context: context)
                return
            }
            context.fireChannelRead(data)
        case .body:
            context.fireChannelRead(data)
        case .end:
            releaseTimeout()
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    /// Why a handshake is refused.
    struct Refusal: Equatable {
        var status: HTTPResponseStatus
        var message: String
    }

    /// Checks `head`; nil when it is not a gateway handshake or a valid one.
    static func check(_ head: HTTPRequestHead) -> Refusal? {
        let path = splitURI(head.uri).path
        if path.hasPrefix("/api") || path.hasPrefix("/control") { return nil }
        let headers = head.headers
        let isHandshake = headers.contains(name: "Upgrade") || headers.contains(name: "Sec-WebSocket-Key")
            || headers.contains(name: "Sec-WebSocket-Version") || path.hasPrefix("/gateway") || path.hasPrefix("/resume")
        guard isHandshake else { return nil }
        func bad(_ message: String) -> Refusal { Refusal(status: .badRequest, message: message) }
        guard head.method == .GET else { return bad("a WebSocket handshake is a GET request") }
        guard head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1) else {
            return bad("a WebSocket handshake needs HTTP/1.1")
        }
        guard headers.contains(name: "Host") else { return bad("the Host header is missing") }
        guard tokens(headers, "Upgrade").contains("websocket") else { return bad("Upgrade: websocket is missing") }
        guard tokens(headers, "Connection").contains("upgrade") else { return bad("Connection: upgrade is missing") }
        let versions = headers["Sec-WebSocket-Version"]
        guard !versions.isEmpty else { return bad("Sec-WebSocket-Version is missing") }
        guard versions == ["13"] else {
            return Refusal(status: .upgradeRequired, message: "only WebSocket version 13 is supported")
        }
        let keys = headers["Sec-WebSocket-Key"]
        guard let key = keys.first else { return bad("Sec-WebSocket-Key is missing") }
        guard keys.count == 1, isValidKey(key) else { return bad("Sec-WebSocket-Key is not the base64 form of 16 bytes") }
        return nil
    }

    /// The comma-separated tokens of every `name` header, lowercased.
    private static func tokens(_ headers: HTTPHeaders, _ name: String) -> Set<String> {
        Set(headers[name].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
    }

    /// RFC 6455 4.1: the key is a random 16-byte value, base64-encoded (24 characters).
    static func isValidKey(_ key: String) -> Bool {
        key.utf8.count == 24 && Data(base64Encoded: key)?.count == 16
    }

    private func refuse(_ refusal: Refusal, head: HTTPRequestHead, context: ChannelHandlerContext) {
        core.handshakeRefused(refusal, path: splitURI(head.uri).path)
        let body = SimulatorHTTPResponse.error(Int(refusal.status.code), refusal.message).body
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        if refusal.status == .upgradeRequired || refusal.message.hasPrefix("Sec-WebSocket-Version") {
            headers.add(name: "Sec-WebSocket-Version", value: "13")
        }
        let version = HTTPVersion(major: 1, minor: 1)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: refusal.status, headers: headers))),
                      promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

extension SimulatorCore {
    /// A TCP connection was accepted: it has until the request timeout to send a complete request.
    func httpChannelAccepted(_ channel: NIOCore.Channel) -> Int {
        let id = nextHTTPChannelID
        nextHTTPChannelID += 1
        pendingHTTPChannels[id] = channel
        schedule(.httpRequestTimeout(channelID: id), after: Self.ms(configuration.httpRequestTimeoutMilliseconds))
        return id
    }

    /// The connection's first request is complete, or the connection ended.
    func httpRequestEnded(_ id: Int) {
        pendingHTTPChannels[id] = nil
    }

    func httpRequestTimedOut(_ id: Int) {
        guard let channel = pendingHTTPChannels.removeValue(forKey: id) else { return }
        let rule = "no complete HTTP request within \(configuration.httpRequestTimeoutMilliseconds) ms; connection closed"
        record(.violation(rule: rule, closeCode: nil), connection: nil)
        channel.close(promise: nil)
    }

    func handshakeRefused(_ refusal: GatewayHandshakeValidator.Refusal, path: String) {
        let rule = "WebSocket handshake on \(Self.clipped(path)) refused with \(refusal.status.code): \(refusal.message)"
        record(.violation(rule: rule, closeCode: nil), connection: nil)
    }
}
