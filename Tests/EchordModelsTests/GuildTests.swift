import Foundation
import Testing

import EchordModels

@Suite("Guild, GuildCreate, Channel, Role, Emoji", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
struct GuildTests {
    @Test("guild object doc example")
    func guild() throws {
        let guild = try Fixtures.decode(Guild.self, "objects/guild.json")
        #expect(guild.id == 197_038_439_483_310_086)
        #expect(guild.name == "Discord Testers")
        #expect(guild.ownerID == 73_193_882_359_173_120)
        #expect(guild.features.contains("COMMUNITY"))
        #expect(guild.features.count == 9)
        #expect(guild.verificationLevel == 3)
        #expect(guild.mfaLevel == 1)
        #expect(guild.explicitContentFilter == 2)
        #expect(guild.maxMembers == 250_000)
        #expect(guild.vanityURLCode == "discord-testers")
        #expect(guild.premiumTier == 3)
        #expect(guild.rulesChannelID == 441_688_182_833_020_939)
        #expect(guild.safetyAlertsChannelID == 281_283_303_326_089_216)
        #expect(guild.splash == nil)
        #expect(guild.nsfwLevel == nil)
        #expect(try JSONTesting.roundTrip(guild) == guild)
    }

    @Test("Remora GUILD_CREATE captures", arguments: [
        ("guild_create_2021-09-23_1.json", 3, 15, 2, 6),
        ("guild_create_2021-09-23_3_large.json", 392, 54, 72, 46),
        ("guild_create_2021-09-23_4.json", 9, 9, 4, 16),
    ])
    func remoraGuildCreate(file: String, members: Int, channels: Int, presences: Int, roles: Int) throws {
        let payload = try Fixtures.payload(GuildCreate.self, "\(Fixtures.remora)/\(file)")
        #expect(payload.eventName == "GUILD_CREATE")
        let guildCreate = try #require(payload.data)
        #expect(guildCreate.members.count == members)
        #expect(guildCreate.channels.count == channels)
        #expect(guildCreate.presences.count == presences)
        #expect(guildCreate.roles.count == roles)
        #expect(guildCreate.id == 999_999_999_999_999_999)
        #expect(guildCreate.unavailable == false)
        #expect(guildCreate.joinedAt == "1970-01-01T00:00:00.000000+00:00")
        #expect(guildCreate.members.allSatisfy { $0.user != nil })
        #expect(guildCreate.threads.isEmpty)
        #expect(try JSONTesting.roundTrip(guildCreate) == guildCreate)
    }

    @Test("large Remora GUILD_CREATE details")
    func remoraLarge() throws {
        let payload = try Fixtures.payload(GuildCreate.self, "\(Fixtures.remora)/guild_create_2021-09-23_3_large.json")
        let guildCreate = try #require(payload.data)
        #expect(guildCreate.large == true)
        #expect(guildCreate.memberCount == 393)
        #expect(guildCreate.region == "us-south")
        let voice = try #require(guildCreate.channels.first)
        #expect(voice.type == .guildVoice)
        #expect(voice.bitrate == 64_000)
        #expect(voice.permissionOverwrites?.count == 5)
        #expect(voice.permissionOverwrites?.first?.allow == "1024")
        #expect(guildCreate.presences.first?.clientStatus?.desktop == .online)
        #expect(guildCreate.emojis.first?.animated == true)
    }

    @Test("DiscordBM GUILD_CREATE capture")
    func discordBMGuildCreate() throws {
        let payload = try Fixtures.payload(GuildCreate.self, "\(Fixtures.discordBM)/3_guild_create.decompressed.json")
        #expect(payload.sequence == 2)
        let guildCreate = try #require(payload.data)
        #expect(guildCreate.name == "Emoji Server 1")
        #expect(guildCreate.id == 967_500_967_257_968_680)
        #expect(guildCreate.ownerID == 290_483_761_559_240_704)
        #expect(guildCreate.emojis.count == 49)
        #expect(guildCreate.emojis.first?.name == "Queen")
        #expect(guildCreate.members.count == 4)
        #expect(guildCreate.members.last?.user?.username == "DisBMLibTestBot")
        #expect(guildCreate.members.first?.communicationDisabledUntil == nil)
        #expect(guildCreate.channels.count == 6)
        #expect(guildCreate.channels.filter { $0.type == .guildCategory }.count == 2)
        #expect(guildCreate.channels.first(where: { $0.name == "general" })?.parentID == 967_500_967_971_028_992)
        #expect(guildCreate.roles.first?.name == "@everyone")
        #expect(guildCreate.roles.first?.permissions == "1071698660929")
        #expect(guildCreate.roles.first?.tags == .object([:]))
        #expect(guildCreate.memberCount == 4)
        #expect(guildCreate.large == false)
        #expect(guildCreate.maxStageVideoChannelUsers == 0)
        #expect(guildCreate.premiumProgressBarEnabled == false)
    }

    @Test("GuildCreate encodes one flat object")
    func flatEncoding() throws {
        let guild = Guild(id: 1, name: "g", ownerID: 2, roles: [Role(id: 1, name: "@everyone")])
        let guildCreate = GuildCreate(
            guild: guild, joinedAt: "2024-01-01T00:00:00+00:00", memberCount: 1,
            channels: [Channel(id: 3, type: .guildText, name: "general")])
        let json = try JSONTesting.encodeToJSON(guildCreate)
        #expect(json["name"] == .string("g"))
        #expect(json["owner_id"] == .string("2"))
        #expect(json["member_count"] == .number(1))
        #expect(json["channels"] == .array([.object(["id": .string("3"), "type": .number(0), "name": .string("general")])]))
        #expect(json["guild"] == nil)
        #expect(try JSONTesting.roundTrip(guildCreate) == guildCreate)
        var copy = guildCreate
        copy.name = "renamed"
        #expect(copy.guild.name == "renamed")
    }

    @Test("the outage variant decodes as UnavailableGuild, not GuildCreate")
    func unavailableVariant() throws {
        let path = "real/Remora.Discord__synthetic-samples_2574696/Events/GUILD_CREATE/GUILD_CREATE.variant.json"
        #expect(throws: DecodingError.self) { try Fixtures.payload(GuildCreate.self, path) }
        let unavailable = try Fixtures.payload(UnavailableGuild.self, path)
        #expect(unavailable.data?.unavailable == true)
    }

    @Test("channel doc examples")
    func channels() throws {
        let text = try Fixtures.decode(Channel.self, "objects/channel_guild_text.json")
        #expect(text.type == .guildText)
        #expect(text.name == "general")
        #expect(text.rateLimitPerUser == 2)
        #expect(text.nsfw == true)
        #expect(text.lastMessageID == 155_117_677_105_512_449)
        #expect(text.defaultAutoArchiveDuration == 60)
        let dm = try Fixtures.decode(Channel.self, "objects/channel_dm.json")
        #expect(dm.type == .dm)
        #expect(dm.recipients?.first?.username == "test")
        let thread = try Fixtures.decode(Channel.self, "objects/channel_thread.json")
        #expect(thread.type.isThread)
        #expect(thread.threadMetadata != nil)
        for file in ["channel_category", "channel_group_dm", "channel_guild_announcement"] {
            let channel = try Fixtures.decode(Channel.self, "objects/\(file).json")
            #expect(try JSONTesting.roundTrip(channel) == channel)
        }
        let future = try JSONTesting.decode(Channel.self, #"{"id":"1","type":99}"#)
        #expect(future.type.rawValue == 99)
    }

    @Test("emoji doc examples")
    func emoji() throws {
        let custom = try Fixtures.decode(Emoji.self, "objects/emoji.json")
        #expect(custom.id == 41_771_983_429_993_937)
        #expect(custom.roles?.count == 2)
        #expect(custom.user?.publicFlags == 131_328)
        #expect(custom.requireColons == true)
        let standard = try Fixtures.decode(Emoji.self, "objects/emoji_standard_partial.json")
        #expect(standard.id == nil)
        #expect(standard.name == "🔥")
    }
}
