import EchordTestSupport
import Foundation
import NIOCore
import NIOPosix

/// A tiny HTTP/1.1 client over a raw TCP socket, for the simulator's REST and control routes
/// (Foundation networking is not available everywhere the tests run).
///
/// It sends one request with `Connection: close` and reads until the server ends the connection;
/// it understands `Content-Length` and `Transfer-Encoding: chunked` bodies.

/// Sends `GET path` to `127.0.0.1:port`.
func httpGet(
    port: Int, path: String, headers: [(String, String)] = [], timeout: Duration = .seconds(20)
) async throws -> (status: Int, headers: [(String, String)], body: String) {
    try await httpRequest(method: "GET", port: port, path: path, headers: headers, body: nil, timeout: timeout)
}

/// Sends `POST path` with `body` to `127.0.0.1:port`.
func httpPost(
    port: Int, path: String, headers: [(String, String)] = [], body: String = "", timeout: Duration = .seconds(20)
) async throws -> (status: Int, headers: [(String, String)], body: String) {
    try await httpRequest(method: "POST", port: port, path: path, headers: headers, body: body, timeout: timeout)
}

enum HTTPTestClientError: Error, CustomStringConvertible {
    case timedOut
    case malformedResponse(String)

    var description: String {
        switch self {
        case .timedOut: "HTTP request timed out"
        case .malformedResponse(let what): "malformed HTTP response: \(what)"
        }
    }
}

/// Collects every byte the server sends and completes when the connection ends.
private final class RawResponseCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let promise: EventLoopPromise<[UInt8]>
    private var bytes: [UInt8] = []

    init(promise: EventLoopPromise<[UInt8]>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        bytes.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.succeed(bytes)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}

private func httpRequest(
    method: String, port: Int, path: String, headers: [(String, String)], body: String?, timeout: Duration
) async throws -> (status: Int, headers: [(String, String)], body: String) {
    var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
    for (name, value) in headers { request += "\(name): \(value)\r\n" }
    if let body { request += "Content-Length: \(body.utf8.count)\r\n" }
    request += "\r\n"
    if let body { request += body }
    let raw = try await rawTCPExchange(port: port, request: Array(request.utf8), timeout: timeout)
    return try parseHTTPResponse(raw)
}

/// Connects to `127.0.0.1:port`, writes `request`, and returns every byte the server sends until
/// it ends the connection. Throws ``HTTPTestClientError/timedOut`` when the server keeps the
/// connection open longer than `timeout`.
///
/// Also useful for WebSocket handshakes whose answer must be read as raw bytes (for example a
/// server that sends a close frame and hangs up right after the 101).
func rawTCPExchange(port: Int, request: [UInt8], timeout: Duration = .seconds(20)) async throws -> [UInt8] {
    let (channel, response) = try await openRawTCP(port: port, sending: request)
    let (seconds, attoseconds) = timeout.components
    let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)) {
        response.fail(HTTPTestClientError.timedOut)
        channel.close(promise: nil)
    }
    defer { timer.cancel() }
    return try await response.futureResult.get()
}

/// Connects to `127.0.0.1:port` and writes `request` (possibly empty). The connection stays open;
/// `response` succeeds with every byte the server sent once the connection ends (a promise, so a
/// caller can fail it on a timeout of its own).
func openRawTCP(port: Int, sending request: [UInt8]) async throws -> (channel: NIOCore.Channel, response: EventLoopPromise<[UInt8]>) {
    let loop = MultiThreadedEventLoopGroup.singleton.next()
    let promise = loop.makePromise(of: [UInt8].self)
    let channel = try await ClientBootstrap(group: loop)
        .connectTimeout(.seconds(Int64(10 * TestTime.scale)))
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(RawResponseCollector(promise: promise))
            }
        }
        .connect(host: "127.0.0.1", port: port).get()
    if !request.isEmpty { try await channel.writeAndFlush(ByteBuffer(bytes: request)) }
    return (channel, promise)
}

func parseHTTPResponse(_ raw: [UInt8]) throws -> (status: Int, headers: [(String, String)], body: String) {
    let separator: [UInt8] = Array("\r\n\r\n".utf8)
    guard let headerEnd = raw.firstRange(of: separator) else {
        throw HTTPTestClientError.malformedResponse("no end of headers in \(raw.count) bytes")
    }
    let head = String(decoding: raw[..<headerEnd.lowerBound], as: UTF8.self)
    var lines = head.components(separatedBy: "\r\n")
    let statusLine = lines.removeFirst().split(separator: " ")
    guard statusLine.count >= 2, statusLine[0].hasPrefix("HTTP/1."), let status = Int(statusLine[1]) else {
        throw HTTPTestClientError.malformedResponse("status line \(statusLine)")
    }
    let headers: [(String, String)] = lines.compactMap { line in
        guard let colon = line.firstIndex(of: ":") else { return nil }
        return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }
    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
    var body = Array(raw[headerEnd.upperBound...])
    if header("Transfer-Encoding")?.lowercased().contains("chunked") == true {
        var decoded: [UInt8] = []
        var rest = body[...]
        while let lineEnd = rest.firstRange(of: Array("\r\n".utf8)) {
            let sizeText = String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else {
                throw HTTPTestClientError.malformedResponse("chunk size \(sizeText)")
            }
            if size == 0 { break }
            let start = lineEnd.upperBound
            guard rest.distance(from: start, to: rest.endIndex) >= size else {
                throw HTTPTestClientError.malformedResponse("short chunk")
            }
            decoded.append(contentsOf: rest[start..<(start + size)])
            rest = rest[(start + size)...].dropFirst(2)
        }
        body = decoded
    } else if let length = header("Content-Length").flatMap({ Int($0) }) {
        guard body.count >= length else {
            throw HTTPTestClientError.malformedResponse("body of \(body.count) bytes, Content-Length \(length)")
        }
        body = Array(body.prefix(length))
    }
    return (status, headers, String(decoding: body, as: UTF8.self))
}
