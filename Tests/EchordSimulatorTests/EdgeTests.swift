import EchordModels
import EchordSimulator
import EchordTestSupport
import Logging
import NIOCore
import NIOWebSocket
import Testing

/// The simulator's edge is as strict as Discord's: RFC 6455 handshakes and framing, a request
/// timeout, bounded close reasons.
@Suite("The edge: HTTP handshake, request timeout and RFC 6455 framing", .timeLimit(.minutes(3 * TestTime.scale)))
struct EdgeTests {
    static let validKey = "dGhlIHNhbXBsZSBub25jZQ=="

    /// A handshake that breaks one rule.
    enum BadHandshake: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case missingKey, badKey, keyOf15Bytes, noConnectionUpgrade, noUpgradeHeader, version12

        var testDescription: String { rawValue }

        var headers: [(String, String)] {
            var headers: [(String, String)] = [
                ("Host", "127.0.0.1"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", EdgeTests.validKey), ("Sec-WebSocket-Version", "13"),
            ]
            func set(_ name: String, _ value: String?) {
                headers.removeAll { $0.0 == name }
                if let value { headers.append((name, value)) }
            }
            switch self {
            case .missingKey: set("Sec-WebSocket-Key", nil)
            case .badKey: set("Sec-WebSocket-Key", "not a base64 key!!!!!!!!")
            case .keyOf15Bytes: set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA")  // 20 characters: 15 bytes
            case .noConnectionUpgrade: set("Connection", "keep-alive")
            case .noUpgradeHeader: set("Upgrade", nil)
            case .version12: set("Sec-WebSocket-Version", "12")
            }
            return headers
        }

        var status: Int { self == .version12 ? 426 : 400 }
    }

    @Test("a handshake that breaks RFC 6455 gets 400, or 426 with Sec-WebSocket-Version: 13", arguments: BadHandshake.allCases)
    func badHandshake(handshake: BadHandshake) async throws {
        try await withSimulator { simulator in
            var request = "GET /gateway?v=10&encoding=json HTTP/1.1\r\n"
            for (name, value) in handshake.headers { request += "\(name): \(value)\r\n" }
            request += "\r\n"
            let response = try parseHTTPResponse(try await rawTCPExchange(port: simulator.port, request: Array(request.utf8)))
            #expect(response.status == handshake.status, "\(response.body)")
            if handshake == .version12 {
                #expect(response.headers.contains { $0.0.lowercased() == "sec-websocket-version" && $0.1 == "13" })
            }
            #expect(JSONValue.parsedJSON(response.body)?["message"]?.stringValue != nil)
            let rules = try await simulator.brokenRules()
            #expect(rules.count == 1 && rules[0].hasPrefix("WebSocket handshake on /gateway refused with \(handshake.status)"), "\(rules)")
            #expect(try await simulator.log().allSatisfy { if case .connected = $0.kind { false } else { true } })
        }
    }

    /// Waits (real time, bounded) until the server ends `connection`; returns what it sent.
    private static func closed(_ connection: (channel: NIOCore.Channel, response: EventLoopPromise<[UInt8]>)) async throws -> [UInt8] {
        let timer = connection.channel.eventLoop.scheduleTask(in: .seconds(20)) {
            connection.response.fail(HTTPTestClientError.timedOut)
        }
        defer { timer.cancel() }
        return try await connection.response.futureResult.get()
    }

    @Test("a partial request and an idle connection are closed after the request timeout, on simulator time")
    func requestTimeout() async throws {
        try await withSimulator { simulator in
            let partial = try await openRawTCP(port: simulator.port, sending: Array("GET /gateway?v=10 HTTP/1.1\r\nHost: 127.0.0.1\r\n".utf8))
            let idle = try await openRawTCP(port: simulator.port, sending: [])
            // The server accepts connections in order: once it has answered a request on a later
            // connection, it has accepted the two above and started their timeouts.
            #expect(try await httpGet(port: simulator.port, path: "/health").status == 200)
            try await simulator.advanceTime(by: .milliseconds(9_999))
            #expect(try await simulator.brokenRules() == [])
            try await simulator.advanceTime(by: .milliseconds(1))
            #expect(try await Self.closed(partial) == [])
            #expect(try await Self.closed(idle) == [])
            let rule = "no complete HTTP request within 10000 ms; connection closed"
            #expect(try await simulator.brokenRules() == [rule, rule])
        }
    }

    @Test("a reserved opcode closes with 1002", arguments: [3, 7, 0xB, 0xF] as [UInt8])
    func reservedOpcode(opcode: UInt8) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.nextPayload().op == 10)
            let frame = WebSocketFrame(
                fin: true, opcode: try #require(WebSocketOpcode(encodedWebSocketOpcode: opcode)), maskKey: .random(),
                data: ByteBuffer())
            try await client.sendFrame(frame)
            #expect(try await client.next().closeCode == 1002)
            #expect(try await simulator.serverCloseCodes() == [1002])
            #expect(try await simulator.brokenRules().first?.hasPrefix("reserved opcode") == true)
        }
    }

    @Test("an unmasked client frame and a frame with an RSV bit close with 1002", arguments: [false, true])
    func unmaskedOrReservedBit(unmasked: Bool) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.nextPayload().op == 10)
            let data = ByteBuffer(string: "{\"op\":1,\"d\":null}")
            let frame = unmasked
                ? WebSocketFrame(fin: true, opcode: .text, data: data)
                : WebSocketFrame(fin: true, rsv1: true, opcode: .text, maskKey: .random(), data: data)
            try await client.sendFrame(frame)
            #expect(try await client.next().closeCode == 1002)
        }
    }

    private static func textFrame(_ bytes: [UInt8], opcode: WebSocketOpcode = .text, fin: Bool = true) -> WebSocketFrame {
        WebSocketFrame(fin: fin, opcode: opcode, maskKey: .random(), data: ByteBuffer(bytes: bytes))
    }

    @Test("invalid UTF-8 in a text message closes with 1007, also when split across fragments")
    func invalidUTF8() async throws {
        try await withSimulator { simulator in
            let heartbeatHead = Array("{\"op\":1,\"d\":null,\"x\":\"".utf8)
            let tail = Array("\"}".utf8)
            // A valid character (€, E2 82 AC) split across two fragments is fine.
            let valid = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await valid.nextPayload().op == 10)
            try await valid.sendFrame(Self.textFrame(heartbeatHead + [0xE2, 0x82], fin: false))
            try await valid.sendFrame(Self.textFrame([0xAC] + tail, opcode: .continuation))
            #expect(try await valid.next().op == 11)

            // The same start with a bad continuation byte in the second fragment is not.
            let split = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await split.nextPayload().op == 10)
            try await split.sendFrame(Self.textFrame(heartbeatHead + [0xE2, 0x82], fin: false))
            try await split.sendFrame(Self.textFrame([0x28] + tail, opcode: .continuation))
            #expect(try await split.next().closeCode == 1007)

            let single = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await single.nextPayload().op == 10)
            try await single.sendFrame(Self.textFrame(heartbeatHead + [0xC3, 0x28] + tail))
            #expect(try await single.next().closeCode == 1007)
            #expect(try await simulator.serverCloseCodes() == [1007, 1007])
        }
    }

    @Test("a client close with 1005 or without a code is answered with a close frame without a code",
          arguments: [nil, 1005] as [UInt16?])
    func clientCloseWithoutCode(code: UInt16?) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.nextPayload().op == 10)
            var body = ByteBuffer()
            if let code { body.writeInteger(code) }
            try await client.sendFrame(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: body))
            let answer = try await client.next()
            #expect(answer.closeCode == nil, "got \(answer)")
            if case .closed = answer {} else { Issue.record("no close frame: \(answer)") }
            #expect(try await simulator.log().contains { $0.kind == .closedByClient(code: code) })
        }
    }

    @Test("a server close with 1005 sends no code; 1006 ends the TCP connection without a close frame")
    func serverCloseCodesNeverSent() async throws {
        try await withSimulator { simulator in
            let first = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await first.nextPayload().op == 10)
            try await simulator.inject(.close(code: 1005))
            let answer = try await first.next()
            #expect(answer.closeCode == nil)
            if case .closed = answer {} else { Issue.record("no close frame: \(answer)") }

            let second = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await second.nextPayload().op == 10)
            try await simulator.inject(.close(code: 1006))
            #expect(try await second.next().isConnectionEnd)
            // The control API takes only codes a close frame may carry a code from.
            #expect(try await httpPost(port: simulator.port, path: "/control/close?code=999").status == 400)
            #expect(try await httpPost(port: simulator.port, path: "/control/close?code=5000").status == 400)
        }
    }

    @Test("a long client value never shows up in a close reason, and every close reason fits in 123 bytes")
    func boundedCloseReasons() async throws {
        try await withSimulator { simulator in
            let long = String(repeating: "z", count: 3000)
            for query in ["v=\(long)&encoding=json", "v=10&encoding=\(long)", "v=10&encoding=json&compress=\(long)"] {
                let answer = try await CloseCodeTests.rawWebSocketHandshake(port: simulator.port, path: "/gateway", query: query)
                #expect(answer.status == 101)
                let close = try #require(answer.frames.first { $0.opcode == 0x8 })
                let reason = close.payload.dropFirst(2)
                #expect(reason.count <= 123)
                #expect(!String(decoding: reason, as: UTF8.self).contains("zzzz"))
            }
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.nextPayload().op == 10)
            try await client.send("{\"op\":2,\"d\":{\"token\":\"\(TestGatewayClient.token)\",\"intents\":513,\"properties\":\"\(long)\"}}")
            #expect(try await client.next().closeCode == 4001)

            let reasons = try await simulator.log().compactMap { if case .closedByServer(_, let reason) = $0.kind { reason } else { nil } }
            #expect(reasons.count == 4)
            #expect(reasons.allSatisfy { $0.utf8.count <= 123 && !$0.contains("zzzz") }, "\(reasons)")
            #expect(try await simulator.brokenRules().allSatisfy { $0.utf8.count < 300 })
        }
    }

    @Test("after shutdown every call throws SimulatorError.shutDown; a second shutdown does nothing")
    func callsAfterShutdown() async throws {
        var configuration = SimulatorConfiguration()
        configuration.timeSource = .manual
        var logger = Logger(label: "echord.simulator.test")
        logger.logLevel = .critical
        let simulator = try await GatewaySimulator.start(configuration: configuration, logger: logger)
        try await simulator.shutdown()
        await #expect(throws: SimulatorError.shutDown) { try await simulator.inject(.reconnect) }
        await #expect(throws: SimulatorError.shutDown) { try await simulator.log() }
        await #expect(throws: SimulatorError.shutDown) { try await simulator.violations() }
        await #expect(throws: SimulatorError.shutDown) { try await simulator.sessions() }
        await #expect(throws: SimulatorError.shutDown) { try await simulator.advanceTime(by: .seconds(1)) }
        await #expect(throws: SimulatorError.shutDown) { try await simulator.setTraffic(eventsPerSecond: 1) }
        await #expect(throws: SimulatorError.shutDown) {
            try await simulator.dispatch(eventName: "ECHORD_TEST", data: .object([]))
        }
        await #expect(throws: SimulatorError.shutDown) { try await simulator.waitForLogEntry { _ in true } }
        try await simulator.shutdown()
    }
}
