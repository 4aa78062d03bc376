import EchordModels
import EchordSimulator
import EchordTestSupport
import Testing

@Suite("IDENTIFY, READY and GUILD_CREATE over a real socket", .timeLimit(.minutes(3 * TestTime.scale)))
struct IdentifyTests {
    @Test("HELLO carries the configured heartbeat interval and null s/t")
    func hello() async throws {
        try await withSimulator({ $0.heartbeatIntervalMilliseconds = 41_250 }) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let hello = try await client.nextPayload()
            #expect(hello.op == 10)
            #expect(hello.data?["heartbeat_interval"] == .number(41_250))
            #expect(hello.sequence == nil && hello.eventName == nil)
        }
    }

    @Test("IDENTIFY gets READY (s=1) with every guild unavailable, then one complete GUILD_CREATE per guild")
    func readyThenGuildCreates() async throws {
        try await withSimulator({ $0.world.guildCount = 3 }) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, ready) = try await client.identifyUntilReady()
            #expect(ready.sequence == 1)
            #expect(ready.data?["resume_gateway_url"]?.stringValue == simulator.resumeGatewayURL)
            #expect(ready.data?["v"] == .number(10))
            #expect(ready.data?["user"]?["id"]?.stringValue == "1191168914227331073")
            guard case .array(let guilds)? = ready.data?["guilds"] else { Issue.record("no guilds"); return }
            #expect(guilds.count == 3)
            #expect(guilds.allSatisfy { $0["unavailable"] == .bool(true) })
            for index in 0..<3 {
                let create = try await client.nextPayload()
                #expect(create.eventName == "GUILD_CREATE")
                #expect(create.sequence == 2 + index)
                #expect(create.data?["id"]?.stringValue == simulator.guildIDs[index].description)
                #expect(create.data?["unavailable"] == .bool(false))
                // Nullable fields are present as null, not missing.
                #expect(create.data?["icon"] == .null)
                #expect(create.data?["afk_channel_id"] == .null)
                guard case .array(let channels)? = create.data?["channels"] else { Issue.record("no channels"); return }
                #expect(channels.count == 9, "a category, two text channels and one channel of every other type")
            }
            let sessions = try await simulator.sessions()
            #expect(sessions.map(\.id) == [sessionID])
            // The frame log has the IDENTIFY with the token redacted.
            let identify = try #require(try await simulator.receivedFrames().first { $0.op == 2 })
            #expect(identify.text.contains("<redacted>"))
            #expect(!identify.text.contains(TestGatewayClient.token))
        }
    }
}
