import Foundation
import Testing

import EchordModels

@Suite("User and GuildMember", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
struct UserAndMemberTests {
    @Test("user object doc example")
    func user() throws {
        let user = try Fixtures.decode(User.self, "objects/user.json")
        #expect(user.id == 80_351_110_224_678_912)
        #expect(user.username == "Nelly")
        #expect(user.discriminator == "1337")
        #expect(user.globalName == nil)
        #expect(user.avatar == "8342729096ea3675442027381ff50dfe")
        #expect(user.verified == true)
        #expect(user.email == "nelly@discord.com")
        #expect(user.flags == 64)
        #expect(user.banner == "06c16474723fe537c283b8efa61a30c8")
        #expect(user.accentColor == 16_711_680)
        #expect(user.premiumType == 0)
        #expect(user.publicFlags == 64)
        #expect(user.avatarDecorationData
            == AvatarDecorationData(asset: "a_fed43ab12698df65902ba06727e20c0e", skuID: 1_144_058_844_004_233_369))
        #expect(user.bot == nil)
        #expect(try JSONTesting.roundTrip(user) == user)
        let encoded = try JSONTesting.encodeToJSON(user)
        #expect(encoded["accent_color"] == .number(16_711_680))
        #expect(encoded["avatar_decoration_data"]?["sku_id"] == .string("1144058844004233369"))
    }

    @Test("user requires id, username and discriminator")
    func userRequired() {
        #expect(throws: DecodingError.self) { try JSONTesting.decode(User.self, #"{"username":"x","discriminator":"0"}"#) }
        #expect(throws: DecodingError.self) { try JSONTesting.decode(User.self, "{}") }
    }

    @Test("guild member doc example (with its placeholder user {})")
    func guildMember() throws {
        let member = try Fixtures.decode(GuildMember.self, "objects/guild_member.json")
        #expect(member.user == nil, "the docs' placeholder {} is not a user")
        #expect(member.nick == "NOT API SUPPORT")
        #expect(member.avatar == nil)
        #expect(member.roles.isEmpty)
        #expect(member.joinedAt == "2015-04-26T06:26:56.936000+00:00")
        #expect(member.deaf == false)
        #expect(member.mute == false)
        #expect(try JSONTesting.roundTrip(member) == member)
    }

    @Test("partial members from real captures")
    func partialMembers() throws {
        let message = try #require(
            try Fixtures.payload(Message.self, "\(Fixtures.remora)/message_create_2020-08-07_b.json").data)
        let member = try #require(message.member)
        #expect(member.user == nil)
        #expect(member.roles == [999_999_999_999_999_999, 999_999_999_999_999_999])
        #expect(member.nick == nil)
        let withUser = try JSONTesting.decode(
            GuildMember.self,
            #"{"user":{"id":"5","username":"u","discriminator":"0"},"roles":["1"],"guild_id":7,"pending":true}"#)
        #expect(withUser.user?.id == 5)
        #expect(withUser.guildID == 7)
        #expect(withUser.pending == true)
        #expect(withUser.joinedAt == nil)
    }
}
