import EchordModels
import EchordSimulator
import EchordTestSupport
import Testing

@Suite("REQUEST_GUILD_MEMBERS (op 8) and the other client commands (op 31, op 43, op 4)", .timeLimit(.minutes(3 * TestTime.scale)))
struct MembersTests {
    /// GUILDS | GUILD_MEMBERS | GUILD_PRESENCES.
    static let memberIntents: UInt64 = 1 | 2 | 256

    static func bigGuilds(_ configuration: inout SimulatorConfiguration) {
        configuration.world.membersPerGuild = 2500
        configuration.membersPerChunk = 1000
    }

    /// Sends op 8 with `fields` (JSON members of `d`, without braces).
    static func requestMembers(_ client: TestGatewayClient, _ fields: String) async throws {
        try await client.send("{\"op\":8,\"d\":{\(fields)}}")
    }

    /// Reads one complete GUILD_MEMBERS_CHUNK answer: the first chunk tells how many follow.
    static func readChunks(_ client: TestGatewayClient) async throws -> [Incoming] {
        let first = try await client.nextPayload()
        guard first.eventName == "GUILD_MEMBERS_CHUNK", let count = first.data?["chunk_count"]?.integerValue else {
            throw TestClientError.unexpected("\(first) instead of GUILD_MEMBERS_CHUNK")
        }
        var chunks = [first]
        for _ in 1..<max(count, 1) {
            let chunk = try await client.nextPayload()
            guard chunk.eventName == "GUILD_MEMBERS_CHUNK" else {
                throw TestClientError.unexpected("\(chunk) instead of GUILD_MEMBERS_CHUNK")
            }
            chunks.append(chunk)
        }
        return chunks
    }

    static func members(_ chunk: Incoming) -> [JSONValue] { chunk.data?["members"]?.arrayElements ?? [] }
    static func userIDs(_ chunk: Incoming) -> [String] { members(chunk).compactMap { $0["user"]?["id"]?.stringValue } }
    static func usernames(_ chunk: Incoming) -> [String] {
        members(chunk).compactMap { $0["user"]?["username"]?.stringValue }
    }

    @Test("query \"\" limit 0 returns every member (bot included) in chunks of membersPerChunk, nonce echoed")
    func allMembersInChunks() async throws {
        try await withSimulator(Self.bigGuilds) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await client.identifyAndReadGuilds(intents: Self.memberIntents)
            let guildID = simulator.guildIDs[0].description
            try await Self.requestMembers(client, "\"guild_id\":\"\(guildID)\",\"query\":\"\",\"limit\":0,\"nonce\":\"all-1\"")
            let chunks = try await Self.readChunks(client)
            #expect(chunks.count == 3)
            #expect(chunks.map { $0.data?["chunk_index"]?.integerValue } == [0, 1, 2])
            #expect(chunks.allSatisfy { $0.data?["chunk_count"]?.integerValue == 3 })
            #expect(chunks.allSatisfy { $0.data?["nonce"]?.stringValue == "all-1" })
            #expect(chunks.allSatisfy { $0.data?["guild_id"]?.stringValue == guildID })
            #expect(chunks.map { Self.members($0).count } == [1000, 1000, 501])
            // Presences were not asked for; not_found only answers user_ids.
            #expect(chunks.allSatisfy { $0.data?["presences"] == nil && $0.data?["not_found"] == nil })
            let ids = chunks.flatMap(Self.userIDs)
            #expect(ids.count == 2501)
            #expect(Set(ids).count == 2501, "no member twice")
            #expect(ids.contains(testBotUserID))
            // Full member objects.
            let sample = try #require(Self.members(chunks[1]).first)
            #expect(sample["joined_at"]?.stringValue != nil)
            #expect(sample["roles"]?.arrayElements != nil)
            #expect(sample["nick"] == .null)
            #expect(try await simulator.brokenRules() == [])
        }
    }

    @Test("presences: true returns a presence per member only with GUILD_PRESENCES", arguments: [true, false])
    func presences(withPresenceIntent: Bool) async throws {
        try await withSimulator(Self.bigGuilds) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await client.identifyAndReadGuilds(intents: withPresenceIntent ? Self.memberIntents : 1 | 2)
            let guildID = simulator.guildIDs[0].description
            try await Self.requestMembers(
                client, "\"guild_id\":\"\(guildID)\",\"query\":\"user1\",\"limit\":5,\"presences\":true")
            let chunks = try await Self.readChunks(client)
            #expect(chunks.count == 1)
            let memberIDs = Self.userIDs(chunks[0])
            #expect(memberIDs.count == 5)
            if withPresenceIntent {
                let presences = try #require(chunks[0].data?["presences"]?.arrayElements)
                #expect(presences.compactMap { $0["user"]?["id"]?.stringValue } == memberIDs)
                #expect(presences.allSatisfy { $0["status"]?.stringValue != nil })
                #expect(try await simulator.brokenRules() == [])
            } else {
                #expect(chunks[0].data?["presences"] == nil)
                #expect(try await simulator.brokenRules() == ["presences requested without GUILD_PRESENCES"])
            }
        }
    }

    @Test("user_ids with one member and one unknown id returns the member and lists the other in not_found")
    func userIDsWithNotFound() async throws {
        try await withSimulator(Self.bigGuilds) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await client.identifyAndReadGuilds(intents: Self.memberIntents)
            let guildID = simulator.guildIDs[0].description
            // Learn a real member's id first.
            try await Self.requestMembers(client, "\"guild_id\":\"\(guildID)\",\"query\":\"user42\",\"limit\":1")
            let lookup = try await Self.readChunks(client)
            #expect(Self.usernames(lookup[0]) == ["user42"])
            let knownID = try #require(Self.userIDs(lookup[0]).first)
            let unknownID = "1000000000000000001"

            try await Self.requestMembers(
                client, "\"guild_id\":\"\(guildID)\",\"user_ids\":[\"\(knownID)\",\"\(unknownID)\"],\"nonce\":\"ids\"")
            let chunks = try await Self.readChunks(client)
            #expect(chunks.count == 1)
            #expect(Self.userIDs(chunks[0]) == [knownID])
            #expect(chunks[0].data?["not_found"]?.arrayElements?.compactMap(\.stringValue) == [unknownID])
            #expect(chunks[0].data?["nonce"]?.stringValue == "ids")
        }
    }

    @Test("a username prefix query returns at most limit members, all with that prefix; at most 100 overall")
    func prefixQuery() async throws {
        try await withSimulator(Self.bigGuilds) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await client.identifyAndReadGuilds(intents: Self.memberIntents)
            let guildID = simulator.guildIDs[0].description
            try await Self.requestMembers(client, "\"guild_id\":\"\(guildID)\",\"query\":\"user1\",\"limit\":5")
            let chunks = try await Self.readChunks(client)
            #expect(chunks.count == 1)
            let names = Self.usernames(chunks[0])
            #expect(names.count == 5, "2,500 members match, so the limit applies: \(names)")
            #expect(names.allSatisfy { $0.hasPrefix("user1") })

            try await Self.requestMembers(client, "\"guild_id\":\"\(guildID)\",\"query\":\"user\",\"limit\":1000")
            let capped = try await Self.readChunks(client)
            #expect(capped.count == 1)
            #expect(Self.members(capped[0]).count == 100)

            try await Self.requestMembers(client, "\"guild_id\":\"\(guildID)\",\"query\":\"nobody\",\"limit\":10")
            let empty = try await Self.readChunks(client)
            #expect(empty.count == 1 && Self.members(empty[0]).isEmpty)
            // Prefix queries are not "all members" requests: no rate limit, no violation.
            #expect(try await simulator.brokenRules() == [])
        }
    }

    @Test("guild_id sent as a JSON integer (as discord.py does) is accepted")
    func integerGuildID() async throws {
        try await withSimulator(Self.bigGuilds) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await client.identifyAndReadGuilds(intents: Self.memberIntents)
            let guildID = simulator.guildIDs[0]
            try await Self.requestMembers(client, "\"guild_id\":\(guildID.rawValue),\"query\":\"user2\",\"limit\":3")
            let chunks = try await Self.readChunks(client)
            #expect(chunks.count == 1)
            #expect(chunks[0].data?["guild_id"]?.stringValue == guildID.description)
            #expect(Self.usernames(chunks[0]).count == 3)
            #expect(try await simulator.brokenRules() == [])
            #expect(try await simulator.serverCloseCodes() == [])
        }
    }

    @Test("a second all-members request within 30 s gets RATE_LIMITED; after 30 s it is served again")
    func allMembersRateLimit() async throws {
        try await withSimulator(Self.bigGuilds) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await client.identifyAndReadGuilds(intents: Self.memberIntents)
            let guild0 = simulator.guildIDs[0].description
            let guild1 = simulator.guildIDs[1].description
            func all(_ guild: String, nonce: String) -> String {
                "\"guild_id\":\"\(guild)\",\"query\":\"\",\"limit\":0,\"nonce\":\"\(nonce)\""
            }
            try await Self.requestMembers(client, all(guild0, nonce: "first"))
            #expect(try await Self.readChunks(client).count == 3)

            try await Self.requestMembers(client, all(guild0, nonce: "second"))
            let limited = try await client.nextPayload()
            #expect(limited.op == 0)
            #expect(limited.eventName == "RATE_LIMITED")
            #expect(limited.data?["opcode"]?.integerValue == 8)
            let retryAfter = try #require(limited.data?["retry_after"]?.numberValue)
            #expect(retryAfter > 0 && retryAfter <= 30)
            #expect(limited.data?["meta"]?["guild_id"]?.stringValue == guild0)
            #expect(limited.data?["meta"]?["nonce"]?.stringValue == "second")
            // No chunks follow the RATE_LIMITED.
            #expect(try await client.payloadsBeforeHeartbeatAck().isEmpty)

            // The limit is per guild: the other guild is served at once.
            try await Self.requestMembers(client, all(guild1, nonce: "other-guild"))
            let other = try await Self.readChunks(client)
            #expect(other.count == 3 && other.allSatisfy { $0.data?["guild_id"]?.stringValue == guild1 })

            // retry_after counts down with simulator time.
            try await simulator.advanceTime(by: .seconds(20))
            try await Self.requestMembers(client, all(guild0, nonce: "third"))
            let stillLimited = try await client.nextPayload()
            #expect(stillLimited.eventName == "RATE_LIMITED")
            let later = try #require(stillLimited.data?["retry_after"]?.numberValue)
            #expect(abs(later - 10) < 0.01)

            try await simulator.advanceTime(by: .seconds(11))
            try await Self.requestMembers(client, all(guild0, nonce: "fourth"))
            let again = try await Self.readChunks(client)
            #expect(again.count == 3)
            #expect(again.allSatisfy { $0.data?["nonce"]?.stringValue == "fourth" })
            #expect(again.flatMap(Self.userIDs).count == 2501)
            let rules = try await simulator.brokenRules()
            #expect(rules.count == 2)
            #expect(rules.allSatisfy { $0.contains("within the rate limit") })
            #expect(try await simulator.serverCloseCodes() == [])
        }
    }

    @Test("without GUILD_MEMBERS an all-members request gets no chunk and is logged")
    func allMembersNeedsIntent() async throws {
        try await withSimulator(Self.bigGuilds) { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await client.identifyAndReadGuilds(intents: 1)
            let guildID = simulator.guildIDs[0].description
            try await Self.requestMembers(client, "\"guild_id\":\"\(guildID)\",\"query\":\"\",\"limit\":0,\"nonce\":\"x\"")
            #expect(try await client.payloadsBeforeHeartbeatAck().isEmpty)
            #expect(try await simulator.brokenRules() == ["all-members request without GUILD_MEMBERS"])
            // The connection stays usable for requests that need no privileged intent.
            try await Self.requestMembers(client, "\"guild_id\":\"\(guildID)\",\"query\":\"user7\",\"limit\":1")
            let chunks = try await Self.readChunks(client)
            #expect(Self.usernames(chunks[0]) == ["user7"])
        }
    }

    @Test("op 31 REQUEST_SOUNDBOARD_SOUNDS gets one SOUNDBOARD_SOUNDS per served guild")
    func soundboardSounds() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            _ = try await client.identifyAndReadGuilds()
            let ids = simulator.guildIDs.map(\.description)
            try await client.send(
                "{\"op\":31,\"d\":{\"guild_ids\":[\"\(ids[0])\",\"1000000000000000001\",\"\(ids[1])\"]}}")
            var answered: [String] = []
            for _ in 0..<2 {
                let sounds = try await client.nextPayload()
                #expect(sounds.eventName == "SOUNDBOARD_SOUNDS")
                #expect(sounds.data?["soundboard_sounds"]?.arrayElements != nil)
                answered.append(sounds.data?["guild_id"]?.stringValue ?? "")
            }
            #expect(answered == ids)
            // Nothing for the guild the bot is not in.
            #expect(try await client.payloadsBeforeHeartbeatAck().isEmpty)
        }
    }

    @Test("op 43 REQUEST_CHANNEL_INFO gets CHANNEL_INFO with the guild's voice channel")
    func channelInfo() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (_, _, payloads) = try await client.identifyAndReadGuilds()
            let guildID = simulator.guildIDs[0].description
            let voiceID = try #require(payloads[2].data?["channels"]?.arrayElements?
                .first { $0["type"]?.integerValue == 2 }?["id"]?.stringValue)
            try await client.send(
                "{\"op\":43,\"d\":{\"guild_id\":\"\(guildID)\",\"fields\":[\"status\",\"voice_start_time\"]}}")
            let info = try await client.nextPayload()
            #expect(info.eventName == "CHANNEL_INFO")
            #expect(info.data?["guild_id"]?.stringValue == guildID)
            let channels = try #require(info.data?["channels"]?.arrayElements)
            #expect(channels.count == 1)
            #expect(channels.first?["id"]?.stringValue == voiceID)
            #expect(channels.first?["status"] == .null)
            #expect(channels.first?["voice_start_time"] == .null)
        }
    }

    @Test("op 4 joining a voice channel gets VOICE_STATE_UPDATE and VOICE_SERVER_UPDATE; leaving only the state")
    func voiceStateUpdate() async throws {
        try await withSimulator { simulator in
            let client = try await TestGatewayClient.connect(port: simulator.port)
            let (sessionID, _, payloads) = try await client.identifyAndReadGuilds()
            let guildID = simulator.guildIDs[0].description
            #expect(payloads[2].data?["id"]?.stringValue == guildID)
            let voiceID = try #require(payloads[2].data?["channels"]?.arrayElements?
                .first { $0["type"]?.integerValue == 2 }?["id"]?.stringValue)

            try await client.send(
                "{\"op\":4,\"d\":{\"guild_id\":\"\(guildID)\",\"channel_id\":\"\(voiceID)\",\"self_mute\":false,\"self_deaf\":true}}")
            let state = try await client.nextPayload()
            #expect(state.eventName == "VOICE_STATE_UPDATE")
            #expect(state.data?["guild_id"]?.stringValue == guildID)
            #expect(state.data?["channel_id"]?.stringValue == voiceID)
            #expect(state.data?["user_id"]?.stringValue == testBotUserID)
            #expect(state.data?["session_id"]?.stringValue == sessionID)
            #expect(state.data?["self_deaf"] == .bool(true))
            #expect(state.data?["self_mute"] == .bool(false))
            #expect(state.data?["member"]?["user"]?["id"]?.stringValue == testBotUserID)
            let server = try await client.nextPayload()
            #expect(server.eventName == "VOICE_SERVER_UPDATE")
            #expect(server.data?["guild_id"]?.stringValue == guildID)
            #expect(server.data?["token"]?.stringValue?.isEmpty == false)
            #expect(server.data?["endpoint"]?.stringValue?.isEmpty == false)

            try await client.send(
                "{\"op\":4,\"d\":{\"guild_id\":\"\(guildID)\",\"channel_id\":null,\"self_mute\":false,\"self_deaf\":false}}")
            let left = try await client.nextPayload()
            #expect(left.eventName == "VOICE_STATE_UPDATE")
            #expect(left.data?["channel_id"] == .null)
            #expect(try await client.payloadsBeforeHeartbeatAck().isEmpty, "no VOICE_SERVER_UPDATE when leaving")
            #expect(try await simulator.brokenRules() == [])
        }
    }
}
