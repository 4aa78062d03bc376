import Foundation
import Testing

import EchordModels

@Suite("GatewayIntents")
struct GatewayIntentsTests {
    @Test("doc examples and totals")
    func values() {
        #expect(GatewayIntents([.guilds, .guildMessages]).rawValue == 513)
        #expect(GatewayIntents([.guilds, .guildModeration]).rawValue == 5)
        #expect(GatewayIntents.documented.rawValue == 53_608_447)
        #expect(GatewayIntents.privileged.rawValue == 33_026)
        #expect(GatewayIntents.nonPrivileged.rawValue == 53_575_421)
        #expect(GatewayIntents.privileged == [.guildMembers, .guildPresences, .messageContent])
    }

    @Test("every documented bit has its own value")
    func bits() {
        let all: [GatewayIntents] = [
            .guilds, .guildMembers, .guildModeration, .guildExpressions, .guildIntegrations, .guildWebhooks,
            .guildInvites, .guildVoiceStates, .guildPresences, .guildMessages, .guildMessageReactions,
            .guildMessageTyping, .directMessages, .directMessageReactions, .directMessageTyping, .messageContent,
            .guildScheduledEvents, .autoModerationConfiguration, .autoModerationExecution, .guildMessagePolls,
            .directMessagePolls,
        ]
        #expect(all.allSatisfy { $0.rawValue.nonzeroBitCount == 1 })
        #expect(all.reduce(0) { $0 | $1.rawValue } == 53_608_447)
        #expect(GatewayIntents.autoModerationConfiguration.rawValue == 1_048_576)
        #expect(GatewayIntents.directMessagePolls.rawValue == 33_554_432)
    }

    @Test("names list set bits in order")
    func names() {
        #expect(GatewayIntents(rawValue: 513).names == ["GUILDS", "GUILD_MESSAGES"])
        #expect(GatewayIntents.privileged.names == ["GUILD_MEMBERS", "GUILD_PRESENCES", "MESSAGE_CONTENT"])
        #expect(GatewayIntents.documented.names.count == 21)
        #expect(GatewayIntents(rawValue: 1 << 17).names == ["BIT_17"])
    }

    @Test("codes as a JSON integer")
    func coding() throws {
        #expect(String(decoding: try JSONTesting.encode(GatewayIntents(rawValue: 513)), as: UTF8.self) == "513")
        #expect(try JSONTesting.decode(GatewayIntents.self, "53608447") == .documented)
    }

    /// (event name, in a guild?, expected intents) rows from the spec §9 table.
    static let gatingTable: [(String, Bool, GatewayIntents?)] = [
        ("GUILD_CREATE", true, .guilds),
        ("MESSAGE_CREATE", true, .guildMessages), ("MESSAGE_CREATE", false, .directMessages),
        ("MESSAGE_DELETE_BULK", true, .guildMessages),
        ("MESSAGE_REACTION_ADD", true, .guildMessageReactions),
        ("MESSAGE_REACTION_REMOVE_EMOJI", false, .directMessageReactions),
        ("TYPING_START", true, .guildMessageTyping), ("TYPING_START", false, .directMessageTyping),
        ("CHANNEL_PINS_UPDATE", true, .guilds), ("CHANNEL_PINS_UPDATE", false, .directMessages),
        ("THREAD_MEMBERS_UPDATE", true, [.guilds, .guildMembers]),
        ("GUILD_MEMBER_ADD", true, .guildMembers), ("GUILD_BAN_ADD", true, .guildModeration),
        ("GUILD_AUDIT_LOG_ENTRY_CREATE", true, .guildModeration),
        ("GUILD_SOUNDBOARD_SOUNDS_UPDATE", true, .guildExpressions),
        ("INTEGRATION_DELETE", true, .guildIntegrations), ("WEBHOOKS_UPDATE", true, .guildWebhooks),
        ("INVITE_CREATE", true, .guildInvites), ("VOICE_STATE_UPDATE", true, .guildVoiceStates),
        ("VOICE_CHANNEL_EFFECT_SEND", true, .guildVoiceStates), ("PRESENCE_UPDATE", true, .guildPresences),
        ("GUILD_SCHEDULED_EVENT_USER_ADD", true, .guildScheduledEvents),
        ("AUTO_MODERATION_RULE_CREATE", true, .autoModerationConfiguration),
        ("AUTO_MODERATION_ACTION_EXECUTION", true, .autoModerationExecution),
        ("MESSAGE_POLL_VOTE_ADD", true, .guildMessagePolls), ("MESSAGE_POLL_VOTE_REMOVE", false, .directMessagePolls),
        ("VOICE_CHANNEL_STATUS_UPDATE", true, .guilds), ("STAGE_INSTANCE_DELETE", true, .guilds),
        ("READY", true, nil), ("RESUMED", true, nil), ("INTERACTION_CREATE", true, nil),
        ("GUILD_MEMBERS_CHUNK", true, nil), ("RATE_LIMITED", true, nil), ("USER_UPDATE", false, nil),
        ("ENTITLEMENT_CREATE", false, nil), ("VOICE_SERVER_UPDATE", true, nil), ("SOME_FUTURE_EVENT", true, nil),
    ]

    @Test("dispatch gating", arguments: gatingTable)
    func gating(name: String, inGuild: Bool, expected: GatewayIntents?) {
        #expect(GatewayIntents.requiredIntents(forDispatch: name, inGuild: inGuild) == expected)
    }
}
