import Logging
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// Serves REST discovery and the control API over HTTP/1.1; hands gateway requests to the
/// WebSocket upgrader.
final class SimulatorHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let name = "echord-simulator-http"
    private let core: SimulatorCore
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private static let maxBody = 1 << 20

    init(core: SimulatorCore) { self.core = core }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(var buffer):
            if body.count + buffer.readableBytes <= Self.maxBody {
                body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let (path, query, _) = splitURI(head.uri)
            let response = core.handleHTTP(
                method: head.method.rawValue, path: path, query: query,
                authorization: head.headers.first(name: "Authorization"), body: body)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(response.body.count))
            // Every REST answer closes its connection: NIO's upgrader only looks at the first request
            // of a connection, so a client that reused a REST connection for the gateway would
            // never be upgraded.
            headers.add(name: "Connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(
                version: head.version, status: HTTPResponseStatus(statusCode: response.status), headers: headers))),
                promise: nil)
            var buffer = context.channel.allocator.buffer(capacity: response.body.count)
            buffer.writeBytes(response.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

/// Feeds one gateway WebSocket's frames to the simulator core.
final class GatewayWebSocketHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame

    private let core: SimulatorCore
    private let path: String
    private let query: [String: String]
    private let rawQuery: String
    private var connection: SimulatedConnection?

    init(core: SimulatorCore, path: String, query: [String: String], rawQuery: String) {
        self.core = core
        self.path = path
        self.query = query
        self.rawQuery = rawQuery
    }

    func handlerAdded(context: ChannelHandlerContext) {
        connection = core.connectionOpened(channel: context.channel, path: path, query: query, rawQuery: rawQuery)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let connection else { return }
        core.received(unwrapInboundIn(data), on: connection)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let connection { core.connectionClosed(connection) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        core.logger.debug("websocket error", metadata: ["error": "\(error)", "connection": "\(connection?.id ?? 0)"])
        context.close(promise: nil)
    }
}

/// Splits `/path?a=1&b=2` into its path, its decoded query items and the raw query.
func splitURI(_ uri: String) -> (path: String, query: [String: String], rawQuery: String) {
    guard let mark = uri.firstIndex(of: "?") else { return (uri, [:], "") }
    let path = String(uri[..<mark])
    let raw = String(uri[uri.index(after: mark)...])
    var query: [String: String] = [:]
    for item in raw.split(separator: "&") {
        // Empty pieces kept: `?=` or `?=x` has an empty key (it trapped on `parts[0]`; found by
        // Fuzz/FuzzSimulator, input in Fuzz/Regressions/simulator/).
        let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let key = String(parts[0]).removingPercentEncodingSafe
        query[key] = parts.count > 1 ? String(parts[1]).removingPercentEncodingSafe : ""
    }
    return (path, query, raw)
}

extension String {
    /// Percent-decoding without Foundation; malformed escapes are kept as they are.
    var removingPercentEncodingSafe: String {
        guard contains("%") || contains("+") else { return self }
        var bytes: [UInt8] = []
        var iterator = Array(utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension SimulatorCore {
    /// Sets up a freshly accepted TCP connection: HTTP, with an upgrade to the gateway WebSocket on
    /// every path outside `/api` and `/control`. Runs on the core's event loop.
    func configureAcceptedChannel(_ channel: NIOCore.Channel) throws {
        let bound = NIOLoopBound(self, eventLoop: channel.eventLoop)
        let maxFrame = max(1 << 16, configuration.maxClientFrameBytes * 4)
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: maxFrame, automaticErrorHandling: true,
            shouldUpgrade: { channel, head in
                let path = splitURI(head.uri).path
                let isGateway = !(path.hasPrefix("/api") || path.hasPrefix("/control"))
                return channel.eventLoop.makeSucceededFuture(isGateway ? HTTPHeaders() : nil)
            },
            upgradePipelineHandler: { channel, head in
                channel.eventLoop.makeCompletedFuture {
                    let (path, query, raw) = splitURI(head.uri)
                    let handler = GatewayWebSocketHandler(core: bound.value, path: path, query: query, rawQuery: raw)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            })
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withServerUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    context.pipeline.removeHandler(name: SimulatorHTTPHandler.name, promise: nil)
                }
            ))
        try channel.pipeline.syncOperations.addHandler(SimulatorHTTPHandler(core: self), name: SimulatorHTTPHandler.name)
        // Discord's edge checks: the request timeout and a strict handshake, before NIO's upgrader.
        let upgradeHandler = try channel.pipeline.syncOperations.handler(type: HTTPServerUpgradeHandler.self)
        try channel.pipeline.syncOperations.addHandler(GatewayHandshakeValidator(core: self), position: .before(upgradeHandler))
    }
}
