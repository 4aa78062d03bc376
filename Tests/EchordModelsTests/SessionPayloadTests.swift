import Foundation
import Testing

import EchordModels

@Suite("Session payloads (Identify, Resume, READY)", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
struct SessionPayloadTests {
    @Test("minimal Identify decodes and re-encodes to the same JSON")
    func identifyMinimal() throws {
        let payload = try Fixtures.payload(Identify.self, "identify_minimal.json")
        #expect(payload.opcode == .identify)
        let identify = try #require(payload.data)
        #expect(identify.token.rawValue == "my_token")
        #expect(identify.intents == [.guilds, .guildMessages])
        #expect(identify.properties == ConnectionProperties(os: "linux", browser: "my_library", device: "my_library"))
        #expect(identify.compress == nil)
        #expect(identify.shard == nil)
        #expect(identify.presence == nil)
        #expect(try JSONTesting.encodeToJSON(payload) == Fixtures.json("identify_minimal.json"))
    }

    @Test("full Identify decodes every field and re-encodes to the same JSON")
    func identifyFull() throws {
        let payload = try Fixtures.payload(Identify.self, "identify_full.json")
        let identify = try #require(payload.data)
        #expect(identify.compress == true)
        #expect(identify.largeThreshold == 250)
        #expect(identify.shard == ShardInfo(shardID: 0, shardCount: 1))
        #expect(identify.intents.rawValue == 5)
        #expect(identify.properties.browser == "disco")
        let presence = try #require(identify.presence)
        #expect(presence.status == .dnd)
        #expect(presence.since == 91_879_201)
        #expect(presence.afk == false)
        #expect(presence.activities == [Activity(name: "Cards Against Humanity", type: .playing)])
        #expect(try JSONTesting.encodeToJSON(payload) == Fixtures.json("identify_full.json"))
        #expect(try JSONTesting.roundTrip(payload) == payload)
    }

    @Test("a constructed Identify encodes the documented shape")
    func identifyConstructed() throws {
        let identify = Identify(
            token: BotToken("my_token"),
            properties: ConnectionProperties(os: "linux", browser: "my_library", device: "my_library"),
            intents: GatewayIntents(rawValue: 513))
        let frame = GatewayPayload(opcode: .identify, data: identify)
        #expect(try JSONTesting.encodeToJSON(frame) == Fixtures.json("identify_minimal.json"))
    }

    @Test("connection properties accept the deprecated $-keys")
    func legacyProperties() throws {
        let legacy = try JSONTesting.decode(
            ConnectionProperties.self, #"{"$os":"linux","$browser":"old","$device":"old","extra":1}"#)
        #expect(legacy == ConnectionProperties(os: "linux", browser: "old", device: "old"))
        #expect(try JSONTesting.encodeToJSON(legacy)
            == .object(["os": .string("linux"), "browser": .string("old"), "device": .string("old")]))
        let preferCurrent = try JSONTesting.decode(ConnectionProperties.self, #"{"os":"new","$os":"old"}"#)
        #expect(preferCurrent.os == "new")
    }

    @Test("ShardInfo is a two-element array")
    func shardInfo() throws {
        #expect(try JSONTesting.decode(ShardInfo.self, "[3, 8]") == ShardInfo(shardID: 3, shardCount: 8))
        #expect(try JSONTesting.encodeToJSON(ShardInfo(shardID: 3, shardCount: 8)) == .array([.number(3), .number(8)]))
        #expect(throws: DecodingError.self) { try JSONTesting.decode(ShardInfo.self, "[1]") }
        #expect(throws: DecodingError.self) { try JSONTesting.decode(ShardInfo.self, "[1,2,3]") }
        #expect(throws: DecodingError.self) { try JSONTesting.decode(ShardInfo.self, "[]") }
        #expect(throws: DecodingError.self) { try JSONTesting.decode(ShardInfo.self, #"{"shard_id":1}"#) }
        #expect(ShardInfo(shardID: 0, shardCount: 1).isValid)
        #expect(!ShardInfo(shardID: 1, shardCount: 1).isValid)
        #expect(try !JSONTesting.decode(ShardInfo.self, "[5, 2]").isValid, "out-of-range pairs still decode")
    }

    @Test("Resume decodes and re-encodes to the same JSON")
    func resume() throws {
        for file in ["resume.json", "resume_from_gateway_page.json"] {
            let payload = try Fixtures.payload(Resume.self, file)
            #expect(payload.opcode == .resume)
            #expect(payload.data?.sequence == 1337)
            #expect(try JSONTesting.encodeToJSON(payload) == Fixtures.json(file))
        }
        let resume = try #require(try Fixtures.payload(Resume.self, "resume.json").data)
        #expect(resume == Resume(token: BotToken("randomstring"), sessionID: "evenmorerandomstring", sequence: 1337))
    }

    @Test("Remora READY capture")
    func readyRemora() throws {
        let payload = try Fixtures.payload(Ready.self, "\(Fixtures.remora)/ready.json")
        #expect(payload.eventName == "READY")
        #expect(payload.sequence == 1)
        let ready = try #require(payload.data)
        #expect(ready.apiVersion == 6)
        #expect(ready.user.id == 999_999_999_999_999_999)
        #expect(ready.user.bot == true)
        #expect(ready.user.mfaEnabled == true)
        #expect(ready.user.email == nil)
        #expect(ready.guilds.isEmpty)
        #expect(ready.sessionID == "none")
        #expect(ready.resumeGatewayURL == "https://www.example.org")
        #expect(ready.shard == nil)
        #expect(ready.application.id == 999_999_999_999_999_999 && ready.application.flags == [])
        #expect(try JSONTesting.roundTrip(ready) == ready)
    }

    @Test("DiscordBM READY capture ignores undocumented keys")
    func readyDiscordBM() throws {
        let payload = try Fixtures.payload(Ready.self, "\(Fixtures.discordBM)/2_ready.decompressed.json")
        let ready = try #require(payload.data)
        #expect(ready.apiVersion == 10)
        #expect(ready.user.username == "DisBMLibTestBot")
        #expect(ready.user.id == 1_030_118_727_418_646_629)
        #expect(ready.user.discriminator == "0861")
        #expect(ready.sessionID == "bf8eb88e4939e52df093261f3abbc638")
        #expect(ready.resumeGatewayURL == "wss://gateway-us-east1-c.discord.gg")
        #expect(ready.guilds == [
            UnavailableGuild(id: 967_500_967_257_968_680, unavailable: true),
            UnavailableGuild(id: 1_036_881_950_696_288_277, unavailable: true),
        ])
        #expect(ready.application.flags?.rawValue == 565_248)
        let reencoded = try JSONTesting.encodeToJSON(ready)
        #expect(reencoded["v"] == .number(10))
        #expect(reencoded["_trace"] == nil, "unknown keys are not kept")
    }

    @Test("synthetic READY with a shard pair")
    func readyShard() throws {
        let path = "real/Remora.Discord__synthetic-samples_2574696/Events/READY/READY.json"
        let ready = try #require(try Fixtures.payload(Ready.self, path).data)
        #expect(ready.shard == ShardInfo(shardID: 0, shardCount: 1))
        #expect(ready.guilds.first?.unavailable == true)
    }

    @Test("unavailable guild object")
    func unavailableGuild() throws {
        let guild = try Fixtures.decode(UnavailableGuild.self, "objects/unavailable_guild.json")
        #expect(guild == UnavailableGuild(id: 41_771_983_423_143_937, unavailable: true))
        let left = try JSONTesting.decode(UnavailableGuild.self, #"{"id":"1"}"#)
        #expect(left.unavailable == nil)
    }
}
