import Foundation
import Testing

import EchordModels

/// Enums that keep unknown values, bit sets, timestamps, and commands encoded as the docs show.
@Suite("Model values")
struct ModelValueTests {
    @Test("unknown enum values and flag bits survive a decode and a re-encode")
    func unknownValuesSurvive() throws {
        let json = #"{"id":"1","type":99,"flags":1073741840,"permissions":"9223372036854775807","default_sort_order":7}"#
        let channel = try Channel(jsonBytes: Array(json.utf8))
        #expect(channel.type == ChannelType(rawValue: 99))
        #expect(channel.type.description == "ChannelType(99)")
        #expect(channel.flags?.contains(.requireTag) == true)
        #expect(channel.flags?.rawValue == 1_073_741_840)
        #expect(channel.permissions?.contains([.administrator, .pinMessages]) == true)
        #expect(channel.permissions?.rawValue == UInt64(Int64.max))
        let again = try Channel(jsonData: JSONEncoder().encode(channel))
        #expect(again == channel)
        let status = try PresenceStatus(jsonBytes: Array(#""streaming-ish""#.utf8))
        #expect(status.rawValue == "streaming-ish")
        #expect(String(decoding: try JSONEncoder().encode(status), as: UTF8.self) == #""streaming-ish""#)
        #expect(try JSONDecoder().decode(Permissions.self, from: Data(#""8""#.utf8)) == .administrator)
        #expect(Permissions([.administrator, .kickMembers]).description == "[kickMembers, administrator]")
        #expect(MessageFlags(rawValue: 1 << 40).description == "[0x10000000000]")
    }

    @Test("timestamps: Discord's forms parse to the microsecond and print in Discord's form", arguments: [
        ("2017-07-11T17:27:07.299000+00:00", Int64(1_499_794_027_299_000)),
        ("2017-07-11T17:27:07.299+00:00", 1_499_794_027_299_000),
        ("2017-07-11T17:27:07Z", 1_499_794_027_000_000),
        ("2017-07-11T19:27:07.000001+02:00", 1_499_794_027_000_001),
        ("1970-01-01T00:00:00.000000+00:00", 0),
        ("1969-12-31T23:59:59.500000+00:00", -500_000),
        ("2024-02-29T12:00:00.123456789+00:00", 1_709_208_000_123_456),
    ])
    func timestamps(text: String, micros: Int64) throws {
        let timestamp = try #require(Timestamp(iso8601: text))
        #expect(timestamp.microsecondsSince1970 == micros)
        #expect(Timestamp(iso8601: timestamp.description) == timestamp)
        #expect(abs(timestamp.date.timeIntervalSince1970 - Double(micros) / 1e6) < 1e-6)
    }

    @Test("malformed timestamps are rejected both ways", arguments: ["2017-13-11T17:27:07+00:00", "2017-13-11T17:27:07.299000+00:00", "2017-07-11T17:2x:07.299000+00:00", "2017-07-11T24:27:07.299000+00:00", "2017-07-11", "yesterday", "2017-07-11T17:27:07.+00:00", "2017-07-11T17:27:07+0000"])
    func badTimestamps(text: String) {
        #expect(Timestamp(iso8601: text) == nil)
        #expect(throws: JSONDecodingError.self) { try Timestamp(jsonBytes: Array("\"\(text)\"".utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Timestamp.self, from: Data("\"\(text)\"".utf8)) }
    }

    @Test("commands built in Swift encode to exactly the docs' JSON", .enabled(if: Fixtures.isAvailable, Fixtures.skipReason))
    func commandsEncodeAsDocumented() throws {
        func encoded<T: Encodable & Sendable>(_ opcode: GatewayOpcode, _ body: T) throws -> JSONValue {
            try JSONTesting.encodeToJSON(GatewayPayload(opcode: opcode, data: body))
        }
        #expect(try encoded(.voiceStateUpdate, VoiceStateUpdate(guildID: 41_771_983_423_143_937, channelID: 127_121_515_262_115_840))
            == Fixtures.json("update_voice_state.json"))
        #expect(try encoded(.requestSoundboardSounds, RequestSoundboardSounds(guildIDs: [613_425_648_685_547_541, 81_384_788_765_712_384]))
            == Fixtures.json("request_soundboard_sounds.json"))
        #expect(try encoded(.requestChannelInfo, RequestChannelInfo(guildID: 613_425_648_685_547_541))
            == Fixtures.json("request_channel_info.json"))
        #expect(try encoded(.presenceUpdate, PresenceUpdate(
            since: 91_879_201, activities: [Activity(name: "Save the Oxford Comma", type: .playing)], status: .online))
            == Fixtures.json("update_presence.json"))
        #expect(try encoded(.requestGuildMembers, RequestGuildMembers(guildID: 41_771_983_444_115_456, query: "", limit: 0))
            == Fixtures.json("request_guild_members.json"))
        #expect(try encoded(.heartbeat, 251) == Fixtures.json("heartbeat.json"))
        let leave = try JSONTesting.encodeToJSON(VoiceStateUpdate(guildID: 1, channelID: nil))
        #expect(leave["channel_id"] == .null, "leaving a voice channel sends channel_id: null")
    }
}

/// Event kinds and subscriptions.
@Suite("Event subscriptions")
struct EventSubscriptionTests {
    @Test("every kind is found by its name and has its own bit")
    func kindsByName() {
        #expect(GatewayEventKind.allCases.count == 79)
        for kind in GatewayEventKind.allCases {
            #expect(GatewayEventKind(name: kind.rawValue) == kind)
        }
        #expect(Set(GatewayEventKind.allCases.map(\.index)).count == 79)
        #expect(GatewayEventKind(name: "NOT_A_DISPATCH") == nil)
    }

    @Test("a subscription holds exactly its kinds, above and below bit 64")
    func exactKinds() {
        var subscription = GatewayEventSubscription([.messageCreate, .webhooksUpdate], includesUnknown: false)
        #expect(subscription.kinds == [.messageCreate, .webhooksUpdate])
        #expect(subscription.contains(name: "MESSAGE_CREATE"))
        #expect(!subscription.contains(name: "MESSAGE_UPDATE"))
        #expect(!subscription.contains(name: "SOMETHING_NEW"))
        subscription.remove(.webhooksUpdate)
        subscription.includesUnknown = true
        #expect(subscription.kinds == [.messageCreate])
        #expect(subscription.contains(name: "SOMETHING_NEW"))
        #expect(GatewayEventSubscription.all.kinds.count == 79)
    }

    @Test("a subscription derived from intents holds what they bring and what no intent gates")
    func fromIntents() {
        let subscription = GatewayEventSubscription(intents: [.guilds, .guildMessages])
        for kind: GatewayEventKind in [.ready, .resumed, .interactionCreate, .guildCreate, .channelCreate, .messageCreate, .messageDelete, .userUpdate] {
            #expect(subscription.contains(kind), "\(kind)")
        }
        for kind: GatewayEventKind in [.presenceUpdate, .typingStart, .guildMemberAdd, .messageReactionAdd, .voiceStateUpdate, .guildBanAdd] {
            #expect(!subscription.contains(kind), "\(kind)")
        }
        let direct = GatewayEventSubscription(intents: [.directMessages])
        #expect(direct.contains(.messageCreate) && direct.contains(.channelPinsUpdate) && !direct.contains(.guildCreate))
    }
}
