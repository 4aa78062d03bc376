import EchordModels
import EchordSimulator
import EchordTestSupport
import Foundation
import Testing

/// The gateway's rate limits (spec §5.1, §6): 120 frames per 60 s per connection (4008), identify
/// buckets (`shard_id % max_concurrency`, one IDENTIFY per bucket per 5 s → op 9) and the session
/// start limit (op 9, visible in `GET /gateway/bot`). Time is manual throughout.
@Suite("Rate limits over a real socket", .timeLimit(.minutes(3 * TestTime.scale)))
struct RateLimitTests {
    // MARK: Helpers

    /// Sends `count` heartbeats and reads one ACK for each; returns how many ACKs arrived (it
    /// stops at the first thing that is not an ACK).
    static func heartbeatAndReadAcks(_ client: TestGatewayClient, count: Int) async throws -> Int {
        for _ in 0..<count { try await client.heartbeat(nil) }
        for received in 0..<count {
            let incoming = try await client.next()
            guard incoming.op == 11 else {
                Issue.record("heartbeat \(received + 1) of \(count) got \(incoming) instead of an ACK")
                return received
            }
        }
        return count
    }

    /// The violations in the log, as `(rule, close code)`.
    static func violations(_ simulator: GatewaySimulator) async throws -> [(rule: String, code: UInt16?)] {
        try await simulator.violations().compactMap {
            if case .violation(let rule, let code) = $0.kind { (rule, code) } else { nil }
        }
    }

    /// `GET /api/v10/gateway/bot` with the test token; returns `session_start_limit`.
    static func sessionStartLimit(_ simulator: GatewaySimulator) async throws -> JSONValue? {
        let response = try await httpGet(
            port: simulator.port, path: "/api/v10/gateway/bot",
            headers: [("Authorization", "Bot \(TestGatewayClient.token)")])
        #expect(response.status == 200)
        let body = try JSONDecoder().decode(JSONValue.self, from: Data(response.body.utf8))
        return body["session_start_limit"]
    }

    // MARK: 4008 Send limit

    @Test("120 frames in 60 s are all handled; the 121st closes with 4008")
    func sendLimit() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.next().op == 10)
            #expect(try await Self.heartbeatAndReadAcks(client, count: 120) == 120)
            #expect(try await simulator.serverCloseCodes().isEmpty)

            try await client.heartbeat(nil)
            let incoming = try await client.next()
            #expect(incoming.closeCode == 4008, "got \(incoming)")
            #expect(try await simulator.serverCloseCodes() == [4008])
            let violations = try await Self.violations(simulator)
            #expect(violations.map(\.rule) == ["more than 120 frames in 60000 ms"])
            #expect(violations.first?.code == 4008)
            let received = try await simulator.receivedFrames()
            #expect(received.count == 121)
            #expect(received.allSatisfy { $0.op == 1 })
            // The over-limit heartbeat was not acknowledged.
            #expect(try await simulator.log().filter { $0.kind == .sent && $0.opcode == 11 }.count == 120)
        }
    }

    @Test("Every frame counts: IDENTIFY plus 119 heartbeats is the limit")
    func identifyCountsTowardsTheLimit() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await client.identifyUntilReady()
            #expect(try await client.nextPayload().eventName == "GUILD_CREATE")
            #expect(try await client.nextPayload().eventName == "GUILD_CREATE")
            #expect(try await Self.heartbeatAndReadAcks(client, count: 119) == 119)
            #expect(try await simulator.serverCloseCodes().isEmpty)
            try await client.heartbeat(3)
            #expect(try await client.next().closeCode == 4008)
            #expect(try await simulator.serverCloseCodes() == [4008])
            #expect(try await simulator.receivedFrames().map(\.op) == [2] + Array(repeating: 1, count: 120))
        }
    }

    @Test("After 61 s of simulated time another 120 frames are fine, and the 121st in that window closes with 4008")
    func sendLimitWindowPasses() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.next().op == 10)
            #expect(try await Self.heartbeatAndReadAcks(client, count: 120) == 120)
            try await simulator.advanceTime(by: .seconds(61))
            #expect(try await Self.heartbeatAndReadAcks(client, count: 120) == 120)
            #expect(try await simulator.serverCloseCodes().isEmpty)
            #expect(try await simulator.brokenRules().isEmpty)

            try await client.heartbeat(nil)
            #expect(try await client.next().closeCode == 4008)
            #expect(try await simulator.serverCloseCodes() == [4008])
            let close = try await simulator.log().first { if case .closedByServer = $0.kind { true } else { false } }
            #expect(close?.timeMilliseconds == 61_000)
        }
    }

    @Test("The window slides: 60 frames at 0 s and 60 at 30 s leave room for exactly 60 more at 61 s")
    func sendLimitWindowSlides() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await client.next().op == 10)
            #expect(try await Self.heartbeatAndReadAcks(client, count: 60) == 60)
            try await simulator.advanceTime(by: .seconds(30))
            #expect(try await Self.heartbeatAndReadAcks(client, count: 60) == 60)
            try await simulator.advanceTime(by: .seconds(31))
            // The 60 frames sent at 0 s have left the window; the 60 sent at 30 s have not.
            #expect(try await Self.heartbeatAndReadAcks(client, count: 60) == 60)
            #expect(try await simulator.serverCloseCodes().isEmpty)
            try await client.heartbeat(nil)
            #expect(try await client.next().closeCode == 4008)
            #expect(try await simulator.serverCloseCodes() == [4008])
            #expect(try await simulator.receivedFrames().count == 181)
        }
    }

    @Test("The send limit is per connection")
    func sendLimitIsPerConnection() async throws {
        try await withSimulator { simulator in
            let first = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await first.next().op == 10)
            #expect(try await Self.heartbeatAndReadAcks(first, count: 120) == 120)
            let second = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await second.next().op == 10)
            #expect(try await Self.heartbeatAndReadAcks(second, count: 120) == 120)
            #expect(try await simulator.serverCloseCodes().isEmpty)
        }
    }

    // MARK: Identify buckets

    @Test("max_concurrency 4: a second IDENTIFY in bucket 0 within 5 s gets op 9 false; bucket 1 is free; after 5 s bucket 0 is free again")
    func identifyBuckets() async throws {
        try await withSimulator({ $0.maxConcurrency = 4 }) { simulator in
            let shard0 = try await TestGatewayClient.connect(port: simulator.port)
            let (_, ready0) = try await shard0.identifyUntilReady(shard: (0, 8))
            #expect(ready0.data?["shard"] == .array([.number(0), .number(8)]))

            // Shard 4 shares bucket 0 (4 % 4) and comes at the same simulated time.
            let shard4 = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await shard4.next().op == 10)
            try await shard4.identify(shard: (4, 8))
            let invalid = try await shard4.next()
            #expect(invalid.op == 9)
            #expect(invalid.data == .bool(false))
            // No READY follows: the next thing on the socket is the ACK of this heartbeat.
            try await shard4.heartbeat(nil)
            let ack = try await shard4.next()
            #expect(ack.op == 11, "got \(ack)")

            // Shard 1 is in bucket 1, which is free.
            let shard1 = try await TestGatewayClient.connect(port: simulator.port)
            let (_, ready1) = try await shard1.identifyUntilReady(shard: (1, 8))
            #expect(ready1.data?["shard"] == .array([.number(1), .number(8)]))

            let violations = try await Self.violations(simulator)
            #expect(violations.map(\.rule) == ["IDENTIFY for shard 4 within 5000 ms of the last one in bucket 0"])
            #expect(violations.first?.code == nil)
            #expect(try await simulator.serverCloseCodes().isEmpty)
            #expect(try await simulator.sessions().map(\.shardID).sorted() == [0, 1])
            #expect(try await simulator.log().filter { $0.eventName == "READY" }.count == 2)

            // 4999 ms later bucket 0 is still busy ...
            try await simulator.advanceTime(by: .milliseconds(4999))
            let early = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await early.next().op == 10)
            try await early.identify(shard: (4, 8))
            let stillInvalid = try await early.next()
            #expect(stillInvalid.op == 9)
            #expect(stillInvalid.data == .bool(false))
            #expect(try await simulator.brokenRules().count == 2)

            // ... and 5 s after shard 0's IDENTIFY it is free.
            try await simulator.advanceTime(by: .milliseconds(1))
            let retry = try await TestGatewayClient.connect(port: simulator.port)
            let (_, ready4) = try await retry.identifyUntilReady(shard: (4, 8))
            #expect(ready4.data?["shard"] == .array([.number(4), .number(8)]))
            #expect(try await simulator.sessions().map(\.shardID).sorted() == [0, 1, 4])
            #expect(try await simulator.brokenRules().count == 2)

            // Refused IDENTIFYs did not use up session starts.
            let limit = try await Self.sessionStartLimit(simulator)
            #expect(limit?["remaining"] == .number(997))
            #expect(limit?["max_concurrency"] == .number(4))
        }
    }

    @Test("With max_concurrency 1 every shard shares one bucket")
    func singleBucket() async throws {
        try await withSimulator { simulator in
            let shard0 = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await shard0.identifyUntilReady(shard: (0, 2))
            let shard1 = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await shard1.next().op == 10)
            try await shard1.identify(shard: (1, 2))
            let invalid = try await shard1.next()
            #expect(invalid.op == 9 && invalid.data == .bool(false))
            #expect(try await simulator.brokenRules() == ["IDENTIFY for shard 1 within 5000 ms of the last one in bucket 0"])
        }
    }

    // MARK: Session start limit

    @Test("With 2 session starts, the third IDENTIFY gets op 9 false and GET /gateway/bot shows 0 remaining")
    func sessionStartLimit() async throws {
        try await withSimulator({
            $0.sessionStartLimitTotal = 2
            $0.sessionStartLimitRemaining = 2
            $0.identifyBucketMilliseconds = 0
        }) { simulator in
            let before = try await Self.sessionStartLimit(simulator)
            #expect(before?["total"] == .number(2))
            #expect(before?["remaining"] == .number(2))

            var sessionIDs: [String] = []
            for _ in 0..<2 {
                let client = try await TestGatewayClient.connect(port: simulator.port)
                let (sessionID, _) = try await client.identifyUntilReady()
                sessionIDs.append(sessionID)
            }
            #expect(Set(sessionIDs).count == 2)
            #expect(try await Self.sessionStartLimit(simulator)?["remaining"] == .number(0))

            let third = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await third.next().op == 10)
            try await third.identify()
            let invalid = try await third.next()
            #expect(invalid.op == 9)
            #expect(invalid.data == .bool(false))
            try await third.heartbeat(nil)
            #expect(try await third.next().op == 11)

            #expect(try await simulator.brokenRules() == ["session_start_limit exhausted"])
            #expect(try await simulator.serverCloseCodes().isEmpty)
            #expect(try await simulator.sessions().count == 2)
            let after = try await Self.sessionStartLimit(simulator)
            #expect(after?["remaining"] == .number(0))
            #expect(after?["total"] == .number(2))
        }
    }

    @Test("RESUME does not use a session start, even when none are left")
    func resumeDoesNotCountAsSessionStart() async throws {
        try await withSimulator({
            $0.sessionStartLimitTotal = 1
            $0.sessionStartLimitRemaining = 1
        }) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, _) = try await client.identifyUntilReady()
            try await client.close(code: 4000)
            #expect(try await client.nextClose() == 4000)
            try await simulator.waitForLogEntry { $0.kind == .closedByClient(code: 4000) }
            #expect(try await Self.sessionStartLimit(simulator)?["remaining"] == .number(0))

            // Wait (bounded) for the server to let go of the old connection, then resume.
            let clock = ContinuousClock()
            let deadline = clock.now + TestTime.bound(.seconds(20))
            while try await simulator.sessions().first?.connectionID != nil, clock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            let resumer = try await TestGatewayClient.connect(port: simulator.port, path: "/resume")
            #expect(try await resumer.next().op == 10)
            try await resumer.resume(sessionID: sessionID, sequence: 3)
            #expect(try await resumer.nextPayload().eventName == "RESUMED")
            #expect(try await Self.sessionStartLimit(simulator)?["remaining"] == .number(0))
            #expect(try await simulator.brokenRules().isEmpty)
        }
    }

    @Test("The session start window resets after reset_after")
    func sessionStartWindowResets() async throws {
        try await withSimulator({
            $0.sessionStartLimitTotal = 1
            $0.sessionStartLimitRemaining = 1
            $0.sessionStartLimitResetMilliseconds = 10_000
        }) { simulator in
            let first = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await first.identifyUntilReady()
            let limit = try await Self.sessionStartLimit(simulator)
            #expect(limit?["remaining"] == .number(0))
            #expect(limit?["reset_after"] == .number(10_000))

            try await simulator.advanceTime(by: .seconds(6))
            let refused = try await TestGatewayClient.connect(port: simulator.port)
            #expect(try await refused.next().op == 10)
            try await refused.identify()
            #expect(try await refused.next().op == 9)
            #expect(try await Self.sessionStartLimit(simulator)?["reset_after"] == .number(4_000))

            try await simulator.advanceTime(by: .seconds(4))
            let second = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await second.identifyUntilReady()
            #expect(try await simulator.sessions().count == 2)
            #expect(try await simulator.brokenRules() == ["session_start_limit exhausted"])
        }
    }

    @Test("GET /gateway/bot without a valid token is 401")
    func gatewayBotNeedsToken() async throws {
        try await withSimulator { simulator in
            let missing = try await httpGet(port: simulator.port, path: "/api/v10/gateway/bot")
            #expect(missing.status == 401)
            let bad = try await httpGet(
                port: simulator.port, path: "/api/v10/gateway/bot", headers: [("Authorization", "Bot not-a-token")])
            #expect(bad.status == 401)
            let good = try await httpGet(
                port: simulator.port, path: "/api/v10/gateway/bot",
                headers: [("Authorization", "Bot \(TestGatewayClient.token)")])
            #expect(good.status == 200)
            #expect(good.body.contains("\"session_start_limit\""))
        }
    }
}
