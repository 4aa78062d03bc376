import EchordModels
import EchordSimulator
import EchordTestSupport
import NIOWebSocket
import Testing

/// Every gateway close code the simulator sends (spec §3, §5, §12), each provoked over a real
/// socket, checked both on the wire (the close frame the client got) and in the simulator's log.
@Suite("Close codes over a real socket", .timeLimit(.minutes(3 * TestTime.scale)))
struct CloseCodeTests {
    // MARK: Helpers

    /// The violations in the log, as `(rule, close code)`.
    static func violations(_ simulator: GatewaySimulator) async throws -> [(rule: String, code: UInt16?)] {
        try await simulator.violations().compactMap {
            if case .violation(let rule, let code) = $0.kind { (rule, code) } else { nil }
        }
    }

    /// Connects, reads HELLO, sends `frame`, and checks that the very next thing on the wire is a
    /// close frame with `code`, and that the log holds exactly that close and one violation whose
    /// rule satisfies `rule` and names `code`.
    static func expectCloseAfterHello(
        _ simulator: GatewaySimulator, sending frame: String, code: UInt16, rule: (String) -> Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let client = try await TestGatewayClient.connect(port: simulator.port)
        let hello = try await client.next()
        #expect(hello.op == 10, sourceLocation: sourceLocation)
        try await client.send(frame)
        let incoming = try await client.next()
        #expect(incoming.closeCode == code, "got \(incoming)", sourceLocation: sourceLocation)
        try await expectLoggedClose(simulator, code: code, rule: rule, sourceLocation: sourceLocation)
    }

    /// Checks that the log holds exactly one server close, with `code`, and exactly one violation,
    /// whose rule satisfies `rule` and which names `code`.
    static func expectLoggedClose(
        _ simulator: GatewaySimulator, code: UInt16, rule: (String) -> Bool,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        #expect(try await simulator.serverCloseCodes() == [code], sourceLocation: sourceLocation)
        let violations = try await violations(simulator)
        #expect(violations.count == 1, "\(violations)", sourceLocation: sourceLocation)
        if let violation = violations.first {
            #expect(rule(violation.rule), "rule was: \(violation.rule)", sourceLocation: sourceLocation)
            #expect(violation.code == code, sourceLocation: sourceLocation)
        }
    }

    /// Connects with `query` and checks that the client gets a close with `code` before any
    /// payload (no HELLO), and that the log names `rule`.
    ///
    /// The handshake goes over a raw socket and the answer is read as bytes until the server hangs
    /// up: the server closes right after the 101, and `TestGatewayClient` can miss a close frame
    /// and the end of the connection that both arrive while its WebSocket upgrade is still in
    /// progress (seen when tests run in parallel).
    static func expectCloseOnConnect(
        _ simulator: GatewaySimulator, query: String, code: UInt16, rule: String, reason: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let answer = try await rawWebSocketHandshake(port: simulator.port, path: "/gateway", query: query)
        #expect(answer.status == 101, sourceLocation: sourceLocation)
        #expect(answer.frames.map(\.opcode) == [0x8], "frames: \(answer.frames)", sourceLocation: sourceLocation)
        if let close = answer.frames.first, close.payload.count >= 2 {
            let wireCode = UInt16(close.payload[0]) << 8 | UInt16(close.payload[1])
            #expect(wireCode == code, sourceLocation: sourceLocation)
            // The reason on the wire is fixed: it never quotes the client's query.
            #expect(String(decoding: close.payload.dropFirst(2), as: UTF8.self) == reason, sourceLocation: sourceLocation)
        } else {
            Issue.record("no close frame with a code: \(answer.frames)", sourceLocation: sourceLocation)
        }
        try await expectLoggedClose(simulator, code: code, rule: { $0 == rule }, sourceLocation: sourceLocation)
        let sent = try await simulator.log().filter { $0.kind == .sent }
        #expect(sent.isEmpty, "the simulator sent \(sent) before closing", sourceLocation: sourceLocation)
        #expect(try await simulator.receivedFrames().isEmpty, sourceLocation: sourceLocation)
    }

    /// Sends a WebSocket upgrade request over a raw socket and reads until the server hangs up;
    /// returns the HTTP status and the (unmasked) frames that followed the response head.
    static func rawWebSocketHandshake(
        port: Int, path: String, query: String
    ) async throws -> (status: Int, frames: [(opcode: UInt8, payload: [UInt8])]) {
        let request = "GET \(path)?\(query) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let raw = try await rawTCPExchange(port: port, request: Array(request.utf8))
        guard let headEnd = raw.firstRange(of: Array("\r\n\r\n".utf8)) else { return (0, []) }
        let statusLine = String(decoding: raw[..<headEnd.lowerBound], as: UTF8.self).split(separator: "\r\n").first ?? ""
        let status = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        var rest = raw[headEnd.upperBound...]
        var frames: [(opcode: UInt8, payload: [UInt8])] = []
        while rest.count >= 2 {
            let first = rest[rest.startIndex]
            let second = rest[rest.startIndex + 1]
            var offset = rest.startIndex + 2
            var length = Int(second & 0x7F)
            if length == 126, rest.endIndex - offset >= 2 {
                length = Int(rest[offset]) << 8 | Int(rest[offset + 1])
                offset += 2
            } else if length == 127, rest.endIndex - offset >= 8 {
                length = rest[offset..<(offset + 8)].reduce(0) { $0 << 8 | Int($1) }
                offset += 8
            }
            if second & 0x80 != 0 { offset += 4 }  // a masked frame (servers must not send them)
            guard rest.endIndex - offset >= length else { break }
            frames.append((first & 0x0F, Array(rest[offset..<(offset + length)])))
            rest = rest[(offset + length)...]
        }
        return (status, frames)
    }

    /// Waits (in real time, bounded) until the server has let go of `sessionID`'s connection, and
    /// returns the session, or nil when it is gone or the wait ran out.
    static func waitUntilDetached(
        _ simulator: GatewaySimulator, sessionID: String, timeout: Duration = .seconds(20)
    ) async throws -> SimulatorSessionInfo? {
        let clock = ContinuousClock()
        let deadline = clock.now + TestTime.bound(timeout)
        while true {
            let session = try await simulator.sessions().first { $0.id == sessionID }
            guard let session else { return nil }
            if session.connectionID == nil { return session }
            guard clock.now < deadline else { return session }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    static let properties = "\"properties\":{\"os\":\"linux\",\"browser\":\"echord-tests\",\"device\":\"echord-tests\"}"

    // MARK: 4001 Unknown opcode / invalid payload

    @Test("An opcode a client may not send closes with 4001, before IDENTIFY too", arguments: [5, 99, 10, 0, 7, 9, 11, 12, 42])
    func unknownOpcode(op: Int) async throws {
        try await withSimulator { simulator in
            let frame = "{\"op\":\(op),\"d\":null}"
            try await Self.expectCloseAfterHello(
                simulator, sending: frame, code: 4001, rule: { $0 == "unknown or server-only opcode \(op)" })
            let received = try await simulator.receivedFrames()
            #expect(received.count == 1)
            #expect(received.first?.op == op)
            #expect(received.first?.text == frame)
        }
    }

    @Test("An unknown opcode after READY closes with 4001 and leaves the session resumable")
    func unknownOpcodeAfterReady() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, _) = try await client.identifyUntilReady()
            try await client.send("{\"op\":5,\"d\":{}}")
            #expect(try await client.nextClose() == 4001)
            try await Self.expectLoggedClose(simulator, code: 4001, rule: { $0 == "unknown or server-only opcode 5" })
            let session = try await Self.waitUntilDetached(simulator, sessionID: sessionID)
            #expect(session != nil)
            #expect(session?.connectionID == nil)
        }
    }

    @Test(
        "An IDENTIFY with a missing or mistyped field closes with 4001",
        arguments: [
            ("{\"op\":2,\"d\":{\"intents\":513,\(CloseCodeTests.properties)}}", "token"),
            ("{\"op\":2,\"d\":{\"token\":\"\(TestGatewayClient.token)\",\(CloseCodeTests.properties)}}", "intents"),
            ("{\"op\":2,\"d\":{\"token\":\"\(TestGatewayClient.token)\",\"intents\":513}}", "properties"),
            ("{\"op\":2,\"d\":{\"token\":\"\(TestGatewayClient.token)\",\"intents\":\"513\",\(CloseCodeTests.properties)}}",
             "intents"),
            ("{\"op\":2,\"d\":null}", "d is null"),
            ("{\"op\":2}", "d is null"),
        ])
    func invalidIdentify(frame: String, missing: String) async throws {
        try await withSimulator { simulator in
            try await Self.expectCloseAfterHello(
                simulator, sending: frame, code: 4001,
                rule: { $0.hasPrefix("invalid Identify payload") && $0.contains(missing) })
            #expect(try await simulator.sessions().isEmpty)
            let received = try await simulator.receivedFrames()
            #expect(received.map(\.op) == [2])
            #expect(!received.contains { $0.text.contains(TestGatewayClient.token) })
        }
    }

    @Test("A heartbeat whose d is not a sequence number or null closes with 4001", arguments: ["\"x\"", "1.5", "true", "{}", "[1]"])
    func invalidHeartbeat(d: String) async throws {
        try await withSimulator { simulator in
            let frame = "{\"op\":1,\"d\":\(d)}"
            try await Self.expectCloseAfterHello(
                simulator, sending: frame, code: 4001, rule: { $0 == "heartbeat d must be the last sequence number or null" })
            #expect(try await simulator.receivedFrames().map(\.text) == [frame])
        }
    }

    @Test("Heartbeats with d null, an integer or no d at all are acknowledged", arguments: ["{\"op\":1,\"d\":null}", "{\"op\":1,\"d\":0}", "{\"op\":1}"])
    func validHeartbeat(frame: String) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.next().op == 10)
            try await client.send(frame)
            let ack = try await client.next()
            #expect(ack.op == 11)
            #expect(try await simulator.serverCloseCodes().isEmpty)
            #expect(try await simulator.brokenRules().isEmpty)
        }
    }

    // MARK: 4002 Decode error

    @Test(
        "A frame that is not a JSON object with an integer op closes with 4002",
        arguments: [
            "not json", "{\"op\":1", "[1,2]", "42", "\"op\"", "null", "{}", "{\"d\":null}", "{\"op\":\"1\",\"d\":null}",
            "{\"op\":1.5}", "{\"op\":null}",
        ])
    func notAJSONObject(frame: String) async throws {
        try await withSimulator { simulator in
            try await Self.expectCloseAfterHello(
                simulator, sending: frame, code: 4002, rule: { $0 == "frame is not a JSON object with an integer op" })
            let received = try await simulator.receivedFrames()
            #expect(received.count == 1)
            #expect(received.first?.op == nil)
            #expect(received.first?.text == frame)
        }
    }

    /// `{"op":1,"d":null}` padded with trailing spaces to exactly `size` bytes.
    static func paddedHeartbeat(size: Int) -> String {
        let base = "{\"op\":1,\"d\":null}"
        return base + String(repeating: " ", count: size - base.utf8.count)
    }

    @Test("A frame of exactly 4096 bytes is accepted; one of 4097 bytes closes with 4002")
    func frameSizeLimit() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.next().op == 10)
            try await client.send(Self.paddedHeartbeat(size: 4096))
            #expect(try await client.next().op == 11)
            #expect(try await simulator.serverCloseCodes().isEmpty)

            try await client.send(Self.paddedHeartbeat(size: 4097))
            let incoming = try await client.next()
            #expect(incoming.closeCode == 4002, "got \(incoming)")
            try await Self.expectLoggedClose(simulator, code: 4002, rule: { $0 == "frame of 4097+ bytes is over 4096" })
            // Only the accepted frame made it into the log of received frames.
            #expect(try await simulator.receivedFrames().map(\.text) == [Self.paddedHeartbeat(size: 4096)])
        }
    }

    @Test("A fragmented message under 4096 bytes is reassembled; one over 4096 bytes closes with 4002")
    func fragmentedMessages() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.next().op == 10)
            // Small and fragmented: reassembled and acknowledged.
            try await client.send("{\"op\":1,", opcode: .text, fin: false)
            try await client.send("\"d\":null}", opcode: .continuation, fin: true)
            #expect(try await client.next().op == 11)
            #expect(try await simulator.receivedFrames().map(\.text) == ["{\"op\":1,\"d\":null}"])

            // 3000 + 3000 bytes: each fragment is under the limit, the message is not.
            let whole = Self.paddedHeartbeat(size: 6000)
            let first = String(whole.prefix(3000))
            let second = String(whole.dropFirst(3000))
            try await client.send(first, opcode: .text, fin: false)
            try await client.send(second, opcode: .continuation, fin: true)
            let incoming = try await client.next()
            #expect(incoming.closeCode == 4002, "got \(incoming)")
            try await Self.expectLoggedClose(simulator, code: 4002, rule: { $0 == "frame of 6000+ bytes is over 4096" })
            #expect(try await simulator.receivedFrames().count == 1)
        }
    }

    @Test("encoding=etf in the URL closes with 4002 before HELLO")
    func etfEncoding() async throws {
        try await withSimulator { simulator in
            try await Self.expectCloseOnConnect(
                simulator, query: "v=10&encoding=etf", code: 4002, rule: "encoding etf is not supported (json only)",
                reason: "Unsupported encoding")
        }
    }

    @Test("An unknown compress= value closes with 4002 before HELLO")
    func unknownCompression() async throws {
        try await withSimulator { simulator in
            try await Self.expectCloseOnConnect(
                simulator, query: "v=10&encoding=json&compress=brotli", code: 4002, rule: "unknown compress=brotli",
                reason: "Unsupported compression")
        }
    }

    // MARK: 4003 Not authenticated

    @Test(
        "A command before IDENTIFY closes with 4003",
        arguments: [
            (3, "{\"op\":3,\"d\":{\"since\":null,\"activities\":[],\"status\":\"online\",\"afk\":false}}"),
            (8, "{\"op\":8,\"d\":{\"guild_id\":\"1\",\"query\":\"\",\"limit\":0}}"),
            (4, "{\"op\":4,\"d\":{\"guild_id\":\"1\",\"channel_id\":null,\"self_mute\":false,\"self_deaf\":false}}"),
            (31, "{\"op\":31,\"d\":{\"guild_ids\":[\"1\"]}}"),
            (43, "{\"op\":43,\"d\":{\"guild_id\":\"1\",\"fields\":[\"status\"]}}"),
        ])
    func commandBeforeIdentify(op: Int, frame: String) async throws {
        try await withSimulator { simulator in
            try await Self.expectCloseAfterHello(
                simulator, sending: frame, code: 4003, rule: { $0 == "op \(op) before IDENTIFY or RESUME" })
            #expect(try await simulator.receivedFrames().map(\.op) == [op])
        }
    }

    @Test("A heartbeat before IDENTIFY is acknowledged, and IDENTIFY still works afterwards")
    func heartbeatBeforeIdentify() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.next().op == 10)
            try await client.heartbeat(nil)
            let ack = try await client.next()
            #expect(ack.op == 11)
            #expect(ack.data == nil || ack.data == .null)
            try await client.identify()
            let ready = try await client.nextPayload()
            #expect(ready.eventName == "READY")
            // And once identified, a presence update (which was 4003 before IDENTIFY) is fine.
            try await client.send("{\"op\":3,\"d\":{\"since\":null,\"activities\":[],\"status\":\"idle\",\"afk\":false}}")
            try await client.heartbeat(ready.sequence)
            while true {
                let incoming = try await client.next()
                #expect(incoming.closeCode == nil, "got \(incoming)")
                if incoming.op == 11 || incoming.closeCode != nil { break }
            }
            #expect(try await simulator.serverCloseCodes().isEmpty)
            #expect(try await simulator.brokenRules().isEmpty)
            #expect(try await simulator.receivedFrames().map(\.op) == [1, 2, 3, 1])
        }
    }

    // MARK: 4004 Authentication failed

    @Test("IDENTIFY with a malformed token closes with 4004", arguments: ["not-a-token", "", "a.b", "MTE5.x"])
    func badToken(token: String) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.next().op == 10)
            try await client.identify(token: token)
            let incoming = try await client.next()
            #expect(incoming.closeCode == 4004, "got \(incoming)")
            try await Self.expectLoggedClose(simulator, code: 4004, rule: { $0 == "IDENTIFY with an invalid token" })
            #expect(try await simulator.sessions().isEmpty)
            let received = try await simulator.receivedFrames()
            #expect(received.map(\.op) == [2])
            if !token.isEmpty {
                #expect(received.first?.text.contains("<redacted>") == true)
                #expect(received.first?.text.contains(token) == false)
            }
        }
    }

    @Test("With acceptedTokens set, a well-formed but unlisted token closes with 4004; a listed one is accepted")
    func unlistedToken() async throws {
        let listed = "listed-token-for-tests"
        try await withSimulator({ $0.acceptedTokens = [listed] }) { simulator in
            let rejected = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await rejected.next().op == 10)
            try await rejected.identify(token: TestGatewayClient.token)
            let incoming = try await rejected.next()
            #expect(incoming.closeCode == 4004, "got \(incoming)")
            try await Self.expectLoggedClose(simulator, code: 4004, rule: { $0 == "IDENTIFY with an invalid token" })

            let accepted = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await accepted.next().op == 10)
            try await accepted.identify(token: listed)
            let ready = try await accepted.nextPayload()
            #expect(ready.eventName == "READY")
            #expect(try await simulator.sessions().count == 1)
            #expect(try await simulator.serverCloseCodes() == [4004])
        }
    }

    // MARK: 4005 Already authenticated

    @Test("A second IDENTIFY on the same connection closes with 4005")
    func secondIdentify() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, _) = try await client.identifyUntilReady()
            try await client.identify()
            #expect(try await client.nextClose() == 4005)
            try await Self.expectLoggedClose(
                simulator, code: 4005, rule: { $0 == "IDENTIFY on a connection that already has a session" })
            #expect(try await simulator.sessions().map(\.id) == [sessionID])
            #expect(try await simulator.receivedFrames().map(\.op) == [2, 2])
        }
    }

    @Test("RESUME after IDENTIFY on the same connection closes with 4005")
    func resumeAfterIdentify() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, ready) = try await client.identifyUntilReady()
            try await client.resume(sessionID: sessionID, sequence: ready.sequence ?? 1)
            #expect(try await client.nextClose() == 4005)
            try await Self.expectLoggedClose(
                simulator, code: 4005, rule: { $0 == "RESUME on a connection that already has a session" })
            #expect(try await simulator.receivedFrames().map(\.op) == [2, 6])
            #expect(!(try await simulator.log().contains { $0.eventName == "RESUMED" }))
        }
    }

    // MARK: 4007 Invalid seq

    @Test("RESUME with a seq the session never reached closes with 4007", arguments: [4, 1000, -1])
    func resumeWithBadSequence(sequence: Int) async throws {
        try await withSimulator { simulator in
            let first = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, _) = try await first.identifyUntilReady()
            // READY (1) and two GUILD_CREATEs (2, 3).
            #expect(try await first.nextPayload().sequence == 2)
            #expect(try await first.nextPayload().sequence == 3)
            try await first.close(code: 4000)
            #expect(try await first.nextClose() == 4000)
            let detached = try await Self.waitUntilDetached(simulator, sessionID: sessionID)
            #expect(detached?.sequence == 3)

            let second = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            #expect(try await second.next().op == 10)
            try await second.resume(sessionID: sessionID, sequence: sequence)
            let incoming = try await second.next()
            #expect(incoming.closeCode == 4007, "got \(incoming)")
            try await Self.expectLoggedClose(
                simulator, code: 4007, rule: { $0 == "RESUME with seq \(sequence); the session is at 3" })
            let violation = try await simulator.violations().first
            #expect(violation?.sessionID == sessionID)
            #expect(!(try await simulator.log().contains { $0.eventName == "RESUMED" }))
        }
    }

    // MARK: 4010 Invalid shard

    @Test("IDENTIFY with an invalid shard closes with 4010", arguments: [(2, 2), (-1, 1), (0, 0), (5, 3), (0, -1)])
    func invalidShard(shardID: Int, shardCount: Int) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.next().op == 10)
            try await client.identify(shard: (shardID, shardCount))
            let incoming = try await client.next()
            #expect(incoming.closeCode == 4010, "got \(incoming)")
            try await Self.expectLoggedClose(
                simulator, code: 4010, rule: { $0 == "invalid shard [\(shardID), \(shardCount)]" })
            #expect(try await simulator.sessions().isEmpty)
        }
    }

    @Test("IDENTIFY with the last valid shard of a count is accepted")
    func lastValidShard() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (_, ready) = try await client.identifyUntilReady(shard: (1, 2))
            #expect(ready.data?["shard"] == .array([.number(1), .number(2)]))
            #expect(try await simulator.serverCloseCodes().isEmpty)
            #expect(try await simulator.sessions().map(\.shardID) == [1])
        }
    }

    // MARK: 4011 Sharding required

    @Test("With 2 guilds and maxGuildsPerShard 1, IDENTIFY without shard closes with 4011; shards [0,2] and [1,2] get one guild each")
    func shardingRequired() async throws {
        try await withSimulator({
            $0.world.guildCount = 2
            $0.maxGuildsPerShard = 1
            $0.maxConcurrency = 2
        }) { simulator in
            let unsharded = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await unsharded.next().op == 10)
            try await unsharded.identify()
            let incoming = try await unsharded.next()
            #expect(incoming.closeCode == 4011, "got \(incoming)")
            try await Self.expectLoggedClose(
                simulator, code: 4011, rule: { $0 == "shard would hold 2 guilds (limit 1)" })
            #expect(try await simulator.sessions().isEmpty)

            // The world's two guilds fall on different shards of 2 (so the split below is meaningful).
            let expectedShards = simulator.guildIDs.map { $0.shardIndex(shardCount: 2) }
            #expect(expectedShards.sorted() == [0, 1])
            var seen: [String] = []
            for shardID in 0..<2 {
                let client = try await TestGatewayClient.connect(port: simulator.port)
                let (_, ready) = try await client.identifyUntilReady(shard: (shardID, 2))
                guard case .array(let guilds)? = ready.data?["guilds"] else {
                    Issue.record("READY has no guilds")
                    continue
                }
                #expect(guilds.count == 1)
                let id = guilds.first?["id"]?.stringValue
                let expected = zip(simulator.guildIDs, expectedShards).first { $0.1 == shardID }?.0.description
                #expect(id == expected)
                if let id { seen.append(id) }
            }
            #expect(Set(seen) == Set(simulator.guildIDs.map(\.description)))
            #expect(try await simulator.serverCloseCodes() == [4011])
            #expect(try await simulator.sessions().count == 2)
        }
    }

    // MARK: 4012 Invalid API version

    @Test(
        "A gateway version other than 10 closes with 4012 before HELLO",
        arguments: [("v=9&encoding=json", "9"), ("encoding=json", "missing"), ("v=11&encoding=json", "11"), ("v=&encoding=json", "")])
    func invalidVersion(query: String, shown: String) async throws {
        try await withSimulator { simulator in
            try await Self.expectCloseOnConnect(
                simulator, query: query, code: 4012, rule: "gateway version \(shown) is not 10",
                reason: "Invalid API version")
        }
    }

    // MARK: 4013 Invalid intents

    @Test("Intents with an undocumented bit close with 4013", arguments: [1 << 17, 513 | (1 << 17), 1 << 40] as [UInt64])
    func undocumentedIntent(intents: UInt64) async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.next().op == 10)
            try await client.identify(intents: intents)
            let incoming = try await client.next()
            #expect(incoming.closeCode == 4013, "got \(incoming)")
            try await Self.expectLoggedClose(
                simulator, code: 4013, rule: { $0 == "intents \(intents) have undocumented bits" })
            #expect(try await simulator.sessions().isEmpty)
        }
    }

    @Test("Every documented intent together is accepted")
    func allDocumentedIntents() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (_, ready) = try await client.identifyUntilReady(intents: GatewayIntents.documented.rawValue)
            #expect(ready.eventName == "READY")
            #expect(try await simulator.serverCloseCodes().isEmpty)
        }
    }

    // MARK: 4014 Disallowed intents

    @Test("A privileged intent the application has not enabled closes with 4014")
    func disallowedIntent() async throws {
        try await withSimulator({ $0.enabledPrivilegedIntents = [] }) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.next().op == 10)
            try await client.identify(intents: 1 | 2)
            let incoming = try await client.next()
            #expect(incoming.closeCode == 4014, "got \(incoming)")
            try await Self.expectLoggedClose(
                simulator, code: 4014, rule: { $0 == "privileged intents not enabled: GUILD_MEMBERS" })
            #expect(try await simulator.sessions().isEmpty)

            // Non-privileged intents are still fine.
            let plain = try await TestGatewayClient.connect(port: simulator.port)
            let (_, ready) = try await plain.identifyUntilReady(intents: 513)
            #expect(ready.eventName == "READY")
            #expect(try await simulator.serverCloseCodes() == [4014])
        }
    }

    @Test("Only the privileged intents that are not enabled are refused")
    func partlyEnabledPrivilegedIntents() async throws {
        try await withSimulator({ $0.enabledPrivilegedIntents = [.guildMembers] }) { simulator in
            let allowed = try await TestGatewayClient.connect(port: simulator.port)
            let (_, ready) = try await allowed.identifyUntilReady(intents: 1 | 2)
            #expect(ready.eventName == "READY")

            try await simulator.advanceTime(by: .seconds(5))  // a fresh identify bucket
            let refused = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await refused.next().op == 10)
            try await refused.identify(intents: 1 | 2 | 256 | 32768)
            #expect(try await refused.next().closeCode == 4014)
            try await Self.expectLoggedClose(
                simulator, code: 4014, rule: { $0 == "privileged intents not enabled: GUILD_PRESENCES,MESSAGE_CONTENT" })
        }
    }
}
