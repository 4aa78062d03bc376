@_spi(EchordInternals) import EchordGateway
import EchordModels
import EchordSimulator
import EchordTestSupport
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// A queue that one consumer awaits with a timeout, fed from an event loop.
///
/// Every item passes through the locked state: the producer stores it under the lock and the
/// consumer takes it under the lock, so everything the event loop wrote into an item (a
/// `WebSocketFrame`'s storage) happens-before the consumer reads it, as ThreadSanitizer sees it
/// too. The continuation only wakes the consumer; it never carries the item (ThreadSanitizer
/// reported the frame handed over in a continuation as a data race).
final class AsyncTestQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var finished = false
        var waiter: (id: Int, continuation: CheckedContinuation<Void, Never>)?
        var nextID = 0
    }
    private let state = NIOLockedValueBox(State())

    func push(_ item: Element) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            state.items.append(item)
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
        waiter?.resume()
    }

    func finish() {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
        waiter?.resume()
    }

    /// The first item, or nil once finished and drained, taken under the lock; `.none` when empty.
    private func take() -> Element?? {
        state.withLockedValue { state -> Element?? in
            if !state.items.isEmpty { return .some(state.items.removeFirst()) }
            return state.finished ? .some(nil) : .none
        }
    }

    /// The next item, nil once finished and drained; throws after `timeout` of real time.
    func next(timeout: Duration) async throws -> Element? {
        if let taken = take() { return taken }
        var timer: Task<Void, Never>?
        defer { timer?.cancel() }
        // Woken by push, finish or the timer; the item itself is taken under the lock below.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let id: Int? = state.withLockedValue { state in
                if !state.items.isEmpty || state.finished { return nil }
                state.nextID += 1
                state.waiter = (state.nextID, continuation)
                return state.nextID
            }
            guard let id else {
                continuation.resume()
                return
            }
            timer = Task {
                try? await Task.sleep(for: TestTime.bound(timeout))
                let expired = self.state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                    guard let waiter = state.waiter, waiter.id == id else { return nil }
                    state.waiter = nil
                    return waiter.continuation
                }
                expired?.resume()
            }
        }
        if let taken = take() { return taken }
        throw TestClientError.timedOut("nothing arrived within \(timeout)")
    }
}

enum TestClientError: Error, CustomStringConvertible {
    case timedOut(String)
    case unexpected(String)
    case notUpgraded

    var description: String {
        switch self {
        case .timedOut(let s): "timed out: \(s)"
        case .unexpected(let s): "unexpected: \(s)"
        case .notUpgraded: "the server did not upgrade to WebSocket"
        }
    }
}

/// What the test client saw.
enum Incoming: Sendable, CustomStringConvertible {
    /// A gateway payload (decompressed), parsed, with its text.
    case payload(JSONValue, text: String)
    /// A close frame with its code.
    case closed(code: UInt16?)
    /// The TCP connection ended without a close frame.
    case ended

    var description: String {
        switch self {
        case .payload(_, let text): "payload \(text.prefix(160))"
        case .closed(let code): "closed \(code.map(String.init) ?? "-")"
        case .ended: "ended"
        }
    }

    var op: Int? {
        if case .payload(let json, _) = self, case .number(let n)? = json["op"] { return Int(n) }
        return nil
    }
    var eventName: String? {
        if case .payload(let json, _) = self, case .string(let t)? = json["t"] { return t }
        return nil
    }
    var sequence: Int? {
        if case .payload(let json, _) = self, case .number(let n)? = json["s"] { return Int(n) }
        return nil
    }
    var data: JSONValue? {
        if case .payload(let json, _) = self { return json["d"] }
        return nil
    }
    var closeCode: UInt16? {
        if case .closed(let code) = self { return code }
        return nil
    }
}

private final class FrameCollector: ChannelInboundHandler, Sendable {
    typealias InboundIn = WebSocketFrame
    let queue: AsyncTestQueue<WebSocketFrame?>
    init(queue: AsyncTestQueue<WebSocketFrame?>) { self.queue = queue }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) { queue.push(unwrapInboundIn(data)) }
    func channelInactive(context: ChannelHandlerContext) {
        queue.push(nil)
        queue.finish()
    }
}

/// A deliberately small gateway client for testing the simulator over a real socket: it sends
/// what the test tells it to, and hands back every payload decompressed and parsed. It never
/// heartbeats on its own.
actor TestGatewayClient {
    let channel: NIOCore.Channel
    private let frames: AsyncTestQueue<WebSocketFrame?>
    private let compression: TransportCompression
    private let inflater = ZlibStreamInflater()
    private var zstdHeaderSeen = false
    private var zstdPending: [UInt8] = []
    /// Every payload received so far, in order.
    private(set) var received: [Incoming] = []

    private init(channel: NIOCore.Channel, frames: AsyncTestQueue<WebSocketFrame?>, compression: TransportCompression) {
        self.channel = channel
        self.frames = frames
        self.compression = compression
    }

    static func connect(
        port: Int, path: String = "/gateway", query: String? = nil, compression: TransportCompression = .none
    ) async throws -> TestGatewayClient {
        let query = query ?? ("v=10&encoding=json" + (compression == .none ? "" : "&compress=\(compression.rawValue)"))
        let queue = AsyncTestQueue<WebSocketFrame?>()
        let channel = try await connectWebSocket(port: port, path: path, query: query) { FrameCollector(queue: queue) }
        return TestGatewayClient(channel: channel, frames: queue, compression: compression)
    }

    /// The next thing that happened on the socket: a payload, a close frame or the end.
    func next(timeout: Duration = .seconds(20)) async throws -> Incoming {
        while true {
            guard let maybeFrame = try await frames.next(timeout: timeout), let frame = maybeFrame else {
                received.append(.ended)
                return .ended
            }
            var data = frame.unmaskedData
            let bytes = data.readBytes(length: data.readableBytes) ?? []
            switch frame.opcode {
            case .connectionClose:
                let code = bytes.count >= 2 ? UInt16(bytes[0]) << 8 | UInt16(bytes[1]) : nil
                received.append(.closed(code: code))
                return .closed(code: code)
            case .text, .binary:
                guard let message = try decompress(bytes) else { continue }
                let text = String(decoding: message, as: UTF8.self)
                let json = (try? JSONDecoder().decode(JSONValue.self, from: Data(message))) ?? .string(text)
                let incoming = Incoming.payload(json, text: text)
                received.append(incoming)
                return incoming
            default:
                continue
            }
        }
    }

    private func decompress(_ bytes: [UInt8]) throws -> [UInt8]? {
        switch compression {
        case .none: return bytes
        case .zlibStream: return try inflater.feed(bytes)
        case .zstdStream:
            // The simulator sends raw blocks; this reads exactly that subset of zstd (an independent
            // decoder checks the stream in `ZstdStreamTests` and the conformance run).
            var input = bytes[...]
            if !zstdHeaderSeen {
                guard input.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) else { throw TestClientError.unexpected("zstd magic") }
                input = input.dropFirst(6)
                zstdHeaderSeen = true
            }
            var out: [UInt8] = []
            while input.count >= 3 {
                let b = Array(input.prefix(3))
                let header = UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16
                guard (header >> 1) & 3 == 0 else { throw TestClientError.unexpected("non-raw zstd block") }
                let size = Int(header >> 3)
                out.append(contentsOf: input.dropFirst(3).prefix(size))
                input = input.dropFirst(3 + size)
            }
            return out
        }
    }

    /// The next payload, skipping heartbeat ACKs; throws on a close or the end.
    func nextPayload(timeout: Duration = .seconds(20)) async throws -> Incoming {
        while true {
            let incoming = try await next(timeout: timeout)
            switch incoming {
            case .payload where incoming.op == 11: continue
            case .payload: return incoming
            default: throw TestClientError.unexpected("\(incoming) while waiting for a payload")
            }
        }
    }

    /// Reads until a close frame or the end, skipping payloads; returns the close code (nil: ended).
    func nextClose(timeout: Duration = .seconds(20)) async throws -> UInt16? {
        while true {
            switch try await next(timeout: timeout) {
            case .closed(let code): return code
            case .ended: return nil
            case .payload: continue
            }
        }
    }

    func send(_ text: String, opcode: WebSocketOpcode = .text, fin: Bool = true) async throws {
        var buffer = channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        try await sendFrame(WebSocketFrame(fin: fin, opcode: opcode, maskKey: .random(), data: buffer))
    }

    func sendFrame(_ frame: WebSocketFrame) async throws {
        try await channel.writeAndFlush(frame)
    }

    func close(code: UInt16) async throws {
        var buffer = channel.allocator.buffer(capacity: 2)
        buffer.writeInteger(code)
        try await sendFrame(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: buffer))
    }

    /// Ends the TCP connection without a close frame.
    func drop() async {
        try? await channel.close()
    }

    // MARK: Protocol helpers

    static let token = "MTE5MTE2ODkxNDIyNzMzMTA3Mw.fake.echord-tests"

    func identify(
        token: String = TestGatewayClient.token, intents: UInt64 = 513 | 32768, shard: (Int, Int)? = nil,
        largeThreshold: Int? = nil
    ) async throws {
        var fields = [
            "\"token\":\"\(token)\"", "\"intents\":\(intents)",
            "\"properties\":{\"os\":\"linux\",\"browser\":\"echord-tests\",\"device\":\"echord-tests\"}",
        ]
        if let shard { fields.append("\"shard\":[\(shard.0),\(shard.1)]") }
        if let largeThreshold { fields.append("\"large_threshold\":\(largeThreshold)") }
        try await send("{\"op\":2,\"d\":{\(fields.joined(separator: ","))}}")
    }

    func resume(sessionID: String, sequence: Int, token: String = TestGatewayClient.token) async throws {
        try await send("{\"op\":6,\"d\":{\"token\":\"\(token)\",\"session_id\":\"\(sessionID)\",\"seq\":\(sequence)}}")
    }

    func heartbeat(_ sequence: Int?) async throws {
        try await send("{\"op\":1,\"d\":\(sequence.map(String.init) ?? "null")}")
    }

    /// Reads HELLO, identifies, and reads READY; returns READY's `d`.
    func identifyUntilReady(
        intents: UInt64 = 513 | 32768, shard: (Int, Int)? = nil
    ) async throws -> (sessionID: String, ready: Incoming) {
        let hello = try await nextPayload()
        guard hello.op == 10 else { throw TestClientError.unexpected("\(hello) instead of HELLO") }
        try await identify(intents: intents, shard: shard)
        let ready = try await nextPayload()
        guard ready.eventName == "READY", case .string(let id)? = ready.data?["session_id"] else {
            throw TestClientError.unexpected("\(ready) instead of READY")
        }
        return (id, ready)
    }

    /// Reads payloads until a dispatch named `name`; returns it.
    func nextDispatch(named name: String, timeout: Duration = .seconds(20)) async throws -> Incoming {
        while true {
            let incoming = try await nextPayload(timeout: timeout)
            if incoming.eventName == name { return incoming }
        }
    }
}

/// Opens a WebSocket to the simulator on 127.0.0.1 and adds `makeHandler()` to the upgraded
/// pipeline; the bytes that arrive with the 101 are forwarded to it.
func connectWebSocket(
    port: Int, path: String, query: String,
    makeHandler: @escaping @Sendable () -> any ChannelInboundHandler & Sendable
) async throws -> NIOCore.Channel {
    let upgraded = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connectTimeout(.seconds(Int64(10 * TestTime.scale)))
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                let upgrader = NIOTypedWebSocketClientUpgrader<Bool>(
                    maxFrameSize: 1 << 24,
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(makeHandler())
                            return true
                        }
                    })
                var headers = HTTPHeaders()
                headers.add(name: "Host", value: "127.0.0.1:\(port)")
                let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "\(path)?\(query)", headers: headers)
                var configuration = NIOUpgradableHTTPClientPipelineConfiguration(
                    upgradeConfiguration: .init(
                        upgradeRequestHead: head, upgraders: [upgrader],
                        notUpgradingCompletionHandler: { $0.eventLoop.makeSucceededFuture(false) }))
                configuration.leftOverBytesStrategy = .forwardBytes
                let result = try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(
                    configuration: configuration)
                return result.map { ($0, channel) }
            }
        }.get()
    guard upgraded.0 else { throw TestClientError.notUpgraded }
    return upgraded.1
}
