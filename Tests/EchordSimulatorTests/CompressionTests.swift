@_spi(EchordInternals) import EchordGateway
import EchordModels
import EchordSimulator
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import EchordTestSupport
import Testing

/// One WebSocket frame exactly as it came off the wire.
struct RawFrame: Sendable {
    let opcode: WebSocketOpcode
    let fin: Bool
    let bytes: [UInt8]
}

private final class RawFrameRecorder: ChannelInboundHandler, Sendable {
    typealias InboundIn = WebSocketFrame
    let queue: AsyncTestQueue<RawFrame?>
    init(queue: AsyncTestQueue<RawFrame?>) { self.queue = queue }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        var payload = frame.unmaskedData
        queue.push(RawFrame(opcode: frame.opcode, fin: frame.fin, bytes: payload.readBytes(length: payload.readableBytes) ?? []))
    }
    func channelInactive(context: ChannelHandlerContext) {
        queue.push(nil)
        queue.finish()
    }
}

/// A gateway client that decodes nothing: it hands back every WebSocket frame as it arrived, so a
/// test can check the transport itself (frame types, splitting) and decode it independently.
final class RawWebSocketClient: Sendable {
    let channel: NIOCore.Channel
    private let frames: AsyncTestQueue<RawFrame?>

    private init(channel: NIOCore.Channel, frames: AsyncTestQueue<RawFrame?>) {
        self.channel = channel
        self.frames = frames
    }

    static func connect(port: Int, path: String = "/gateway", query: String) async throws -> RawWebSocketClient {
        let queue = AsyncTestQueue<RawFrame?>()
        let channel = try await connectWebSocket(port: port, path: path, query: query) { RawFrameRecorder(queue: queue) }
        return RawWebSocketClient(channel: channel, frames: queue)
    }

    /// The next frame; nil once the connection ended.
    func nextFrame(timeout: Duration = .seconds(20)) async throws -> RawFrame? {
        guard let frame = try await frames.next(timeout: timeout) else { return nil }
        return frame
    }

    func sendText(_ text: String) async throws {
        var buffer = channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        try await channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer))
    }

    func close() async { try? await channel.close() }
}

@Suite("Transport compression: none, zlib-stream and zstd-stream", .timeLimit(.minutes(3 * TestTime.scale)))
struct CompressionTests {
    static let identify = "{\"op\":2,\"d\":{\"token\":\"\(TestGatewayClient.token)\",\"intents\":33281,\"compress\":true,"
        + "\"properties\":{\"os\":\"linux\",\"browser\":\"echord-tests\",\"device\":\"echord-tests\"}}}"

    static func query(_ compression: TransportCompression) -> String {
        "v=10&encoding=json" + (compression == .none ? "" : "&compress=\(compression.rawValue)")
    }

    /// The texts the simulator logged as sent on `connection` (needs `logServerPayloads`).
    static func sentTexts(_ simulator: GatewaySimulator, connection: Int) async throws -> [String] {
        try await simulator.log().filter { $0.kind == .sent && $0.connectionID == connection }.compactMap(\.text)
    }

    /// The connection id of the most recent `.connected` log entry.
    static func lastConnectionID(_ simulator: GatewaySimulator) async throws -> Int? {
        try await simulator.log().last { if case .connected = $0.kind { true } else { false } }?.connectionID
    }

    @Test("HELLO, READY and the GUILD_CREATEs arrive identically with none, zlib-stream and zstd-stream")
    func sameMessagesEveryCompression() async throws {
        try await withSimulator({ configuration in
            configuration.logServerPayloads = true
            configuration.identifyBucketMilliseconds = 0
            configuration.world.guildCount = 3
        }) { simulator in
            var results: [TransportCompression: [JSONValue]] = [:]
            for compression in TransportCompression.allCases {
                let client = try await TestGatewayClient.connect(port: simulator.port, compression: compression)
                let (sessionID, _, payloads) = try await client.identifyAndReadGuilds()
                #expect(payloads.map(\.op) == [10, 0, 0, 0, 0])
                #expect(payloads.compactMap(\.eventName) == ["READY", "GUILD_CREATE", "GUILD_CREATE", "GUILD_CREATE"])
                // Byte for byte what the simulator serialized, once decompressed.
                let connection = try #require(try await simulator.connectionID(of: sessionID))
                #expect(payloads.compactMap(\.payloadText) == (try await Self.sentTexts(simulator, connection: connection)),
                        "\(compression)")
                // Only the session id differs between the three sessions.
                results[compression] = try payloads.map { payload in
                    let json = try #require(payload.payloadJSON)
                    guard payload.eventName == "READY", let d = json["d"] else { return json }
                    #expect(d["session_id"]?.stringValue == sessionID)
                    return json.removingKey("d").mergingD(d.removingKey("session_id"))
                }
            }
            let plain = try #require(results[TransportCompression.none])
            #expect(plain.count == 5)
            #expect(results[.zlibStream] == plain)
            #expect(results[.zstdStream] == plain)
        }
    }

    @Test("zlib-stream with zlibFramesPerMessage = 3: every message is split into binary frames the client must buffer")
    func zlibSplitFrames() async throws {
        try await withSimulator({ configuration in
            configuration.logServerPayloads = true
            configuration.zlibFramesPerMessage = 3
            configuration.identifyBucketMilliseconds = 0
        }) { simulator in
            // The raw frames.
            let raw = try await RawWebSocketClient.connect(port: simulator.port, query: Self.query(.zlibStream))
            let connection = try #require(try await Self.lastConnectionID(simulator))
            let inflater = ZlibStreamInflater()
            var frames: [RawFrame] = []
            var framesPerMessage: [Int] = []
            var messages: [String] = []
            var framesSinceLast = 0
            while messages.count < 4 {  // HELLO, READY, two GUILD_CREATEs
                let frame = try #require(try await raw.nextFrame(), "connection ended after \(messages.count) messages")
                frames.append(frame)
                framesSinceLast += 1
                if let message = try inflater.feed(frame.bytes) {
                    #expect(frame.bytes.suffix(4) == [0x00, 0x00, 0xFF, 0xFF])
                    messages.append(String(decoding: message, as: UTF8.self))
                    framesPerMessage.append(framesSinceLast)
                    framesSinceLast = 0
                    if messages.count == 1 { try await raw.sendText(Self.identify) }
                } else {
                    #expect(frame.bytes.suffix(4) != [0x00, 0x00, 0xFF, 0xFF], "a partial frame ends with the flush marker")
                }
            }
            #expect(frames.allSatisfy { $0.opcode == .binary && $0.fin })
            #expect(Array(frames[0].bytes.prefix(2)) == [0x78, 0x9C], "the stream starts with a zlib header")
            #expect(frames.dropFirst().allSatisfy { Array($0.bytes.prefix(2)) != [0x78, 0x9C] })
            #expect(framesPerMessage == [3, 3, 3, 3])
            #expect(messages == (try await Self.sentTexts(simulator, connection: connection)))
            #expect(JSONValue.parsedJSON(messages[1])?["t"]?.stringValue == "READY")
            await raw.close()

            // The test client's buffering gets whole messages.
            let client = try await TestGatewayClient.connect(port: simulator.port, compression: .zlibStream)
            let (sessionID, _, payloads) = try await client.identifyAndReadGuilds()
            let clientConnection = try #require(try await simulator.connectionID(of: sessionID))
            #expect(payloads.compactMap(\.payloadText) == (try await Self.sentTexts(simulator, connection: clientConnection)))
            #expect(payloads.allSatisfy { $0.payloadJSON?["op"] != nil })
            // Later messages (a heartbeat ACK, a dispatch) still decode on the same stream.
            try await simulator.dispatch(eventName: "ECHORD_TEST", data: .object([("text", .string(String(repeating: "z", count: 5000)))]))
            let big = try await client.nextPayload()
            #expect(big.eventName == "ECHORD_TEST")
            #expect(big.data?["text"]?.stringValue?.count == 5000)
            #expect(try await client.payloadsBeforeHeartbeatAck().isEmpty)
        }
    }

    @Test("zstd-stream: one binary frame per message; the zstd CLI decodes the concatenated stream",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/zstd"), "needs /usr/bin/zstd"))
    func zstdIndependentDecoder() async throws {
        try await withSimulator({ configuration in
            configuration.logServerPayloads = true
        }) { simulator in
            let raw = try await RawWebSocketClient.connect(port: simulator.port, query: Self.query(.zstdStream))
            let connection = try #require(try await Self.lastConnectionID(simulator))
            var frames: [RawFrame] = []
            // HELLO, then IDENTIFY → READY and two GUILD_CREATEs, then a large dispatch (several KiB).
            frames.append(try #require(try await raw.nextFrame()))
            try await raw.sendText(Self.identify)
            for _ in 0..<3 { frames.append(try #require(try await raw.nextFrame())) }
            try await simulator.dispatch(eventName: "ECHORD_TEST", data: .object([("text", .string(String(repeating: "q", count: 200_000)))]))
            frames.append(try #require(try await raw.nextFrame()))
            try await raw.sendText("{\"op\":1,\"d\":4}")
            frames.append(try #require(try await raw.nextFrame()))  // heartbeat ACK
            await raw.close()

            #expect(frames.allSatisfy { $0.opcode == .binary && $0.fin })
            #expect(Array(frames[0].bytes.prefix(4)) == [0x28, 0xB5, 0x2F, 0xFD], "zstd magic number first")
            #expect(frames.dropFirst().allSatisfy { Array($0.bytes.prefix(4)) != [0x28, 0xB5, 0x2F, 0xFD] },
                    "one frame for the whole connection, never restarted")
            let expected = try await Self.sentTexts(simulator, connection: connection)
            #expect(expected.count == frames.count, "one WebSocket message per gateway message")

            let stream = frames.flatMap(\.bytes)
            let decoded = try await Self.zstdDecompress(stream)
            #expect(decoded == expected.joined(), "zstd -dc output differs (\(decoded.utf8.count) bytes)")
            #expect(try await simulator.brokenRules() == [])
            #expect(JSONValue.parsedJSON(expected[4])?["d"]?["text"]?.stringValue?.count == 200_000)
        }
    }

    /// Runs `/usr/bin/zstd -dc` on `bytes`. The stream is a frame that never ends, so zstd reports a
    /// premature end; its exit status is ignored and only what it wrote is returned.
    /// The process runs on a thread of its own: blocking on it from the cooperative pool (two
    /// threads on this machine) would starve every other test.
    static func zstdDecompress(_ bytes: [UInt8]) async throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("echord-zstd-\(UUID().uuidString).zst")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        // Not Foundation's Process: see ChildProcessSpawn.
        let output: [UInt8] = try await withCheckedThrowingContinuation { continuation in
            Thread {
                do {
                    let started = try ChildProcessSpawn.spawn(
                        "/usr/bin/zstd", arguments: ["-dc", "--no-progress", file.path], environment: [:])
                    close(started.stderr)
                    var output: [UInt8] = []
                    ChildProcessSpawn.drain(started.stdout) { output += $0 }
                    _ = ChildProcessSpawn.waitForExit(started.pid)
                    continuation.resume(returning: output)
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
        return String(decoding: output, as: UTF8.self)
    }
}

private extension JSONValue {
    /// An object with `d` set to `value`.
    func mergingD(_ value: JSONValue) -> JSONValue {
        guard case .object(var members) = self else { return self }
        members["d"] = value
        return .object(members)
    }
}
