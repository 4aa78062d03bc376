/// The gateway intents bitfield sent in Identify (spec §9). Encodes as a JSON integer.
///
/// Events tied to an intent are only delivered when one of its bits is set; see
/// ``requiredIntents(forDispatch:inGuild:)``.
public struct GatewayIntents: OptionSet, Hashable, Sendable, Codable {
    /// The bitfield value.
    public var rawValue: UInt64

    /// Wraps a bitfield, including undocumented bits.
    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// Decodes the bitfield from a JSON integer.
    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(UInt64.self))
    }

    /// Encodes the bitfield as a JSON integer.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// Bit 0: guilds, roles, channels, threads, stage instances.
    public static let guilds = GatewayIntents(rawValue: 1 << 0)
    /// Bit 1 (privileged): member add/update/remove events.
    public static let guildMembers = GatewayIntents(rawValue: 1 << 1)
    /// Bit 2: bans and audit-log entries.
    public static let guildModeration = GatewayIntents(rawValue: 1 << 2)
    /// Bit 3: emojis, stickers and soundboard sounds.
    public static let guildExpressions = GatewayIntents(rawValue: 1 << 3)
    /// Bit 4: integrations.
    public static let guildIntegrations = GatewayIntents(rawValue: 1 << 4)
    /// Bit 5: webhook updates.
    public static let guildWebhooks = GatewayIntents(rawValue: 1 << 5)
    /// Bit 6: invite create/delete.
    public static let guildInvites = GatewayIntents(rawValue: 1 << 6)
    /// Bit 7: voice states and voice channel effects.
    public static let guildVoiceStates = GatewayIntents(rawValue: 1 << 7)
    /// Bit 8 (privileged): presence updates.
    public static let guildPresences = GatewayIntents(rawValue: 1 << 8)
    /// Bit 9: messages in guilds.
    public static let guildMessages = GatewayIntents(rawValue: 1 << 9)
    /// Bit 10: reactions in guilds.
    public static let guildMessageReactions = GatewayIntents(rawValue: 1 << 10)
    /// Bit 11: typing in guilds.
    public static let guildMessageTyping = GatewayIntents(rawValue: 1 << 11)
    /// Bit 12: messages and pin updates in DMs.
    public static let directMessages = GatewayIntents(rawValue: 1 << 12)
    /// Bit 13: reactions in DMs.
    public static let directMessageReactions = GatewayIntents(rawValue: 1 << 13)
    /// Bit 14: typing in DMs.
    public static let directMessageTyping = GatewayIntents(rawValue: 1 << 14)
    /// Bit 15 (privileged): no events; fills message `content`, `embeds`, `attachments`, `components`, `poll`.
    public static let messageContent = GatewayIntents(rawValue: 1 << 15)
    /// Bit 16: scheduled events.
    public static let guildScheduledEvents = GatewayIntents(rawValue: 1 << 16)
    /// Bit 20: auto-moderation rule changes.
    public static let autoModerationConfiguration = GatewayIntents(rawValue: 1 << 20)
    /// Bit 21: auto-moderation action executions.
    public static let autoModerationExecution = GatewayIntents(rawValue: 1 << 21)
    /// Bit 24: poll votes in guilds.
    public static let guildMessagePolls = GatewayIntents(rawValue: 1 << 24)
    /// Bit 25: poll votes in DMs.
    public static let directMessagePolls = GatewayIntents(rawValue: 1 << 25)

    /// The privileged intents (GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT = 33026), which must
    /// be enabled in the Developer Portal; asking for one that is not closes with 4014.
    public static let privileged: GatewayIntents = [.guildMembers, .guildPresences, .messageContent]

    /// Every documented intent (53608447).
    public static let documented: GatewayIntents = GatewayIntents(rawValue: namedBits.reduce(0) { $0 | $1.bit })

    /// Every documented intent that is not privileged (53575421).
    public static let nonPrivileged: GatewayIntents = documented.subtracting(privileged)

    /// The documented bits with Discord's names, in bit order.
    static let namedBits: [(bit: UInt64, name: String)] = [
        (1 << 0, "GUILDS"), (1 << 1, "GUILD_MEMBERS"), (1 << 2, "GUILD_MODERATION"),
        (1 << 3, "GUILD_EXPRESSIONS"), (1 << 4, "GUILD_INTEGRATIONS"), (1 << 5, "GUILD_WEBHOOKS"),
        (1 << 6, "GUILD_INVITES"), (1 << 7, "GUILD_VOICE_STATES"), (1 << 8, "GUILD_PRESENCES"),
        (1 << 9, "GUILD_MESSAGES"), (1 << 10, "GUILD_MESSAGE_REACTIONS"), (1 << 11, "GUILD_MESSAGE_TYPING"),
        (1 << 12, "DIRECT_MESSAGES"), (1 << 13, "DIRECT_MESSAGE_REACTIONS"), (1 << 14, "DIRECT_MESSAGE_TYPING"),
        (1 << 15, "MESSAGE_CONTENT"), (1 << 16, "GUILD_SCHEDULED_EVENTS"),
        (1 << 20, "AUTO_MODERATION_CONFIGURATION"), (1 << 21, "AUTO_MODERATION_EXECUTION"),
        (1 << 24, "GUILD_MESSAGE_POLLS"), (1 << 25, "DIRECT_MESSAGE_POLLS"),
    ]

    /// Discord's names of the set bits in bit order (for example `["GUILDS", "GUILD_MESSAGES"]`
    /// for 513). An undocumented bit `n` is listed as `"BIT_n"`.
    public var names: [String] {
        var result: [String] = []
        for index in 0..<64 {
            let bit: UInt64 = 1 << UInt64(index)
            guard rawValue & bit != 0 else { continue }
            result.append(Self.namedBits.first(where: { $0.bit == bit })?.name ?? "BIT_\(index)")
        }
        return result
    }

    /// The intents that gate a dispatch event, or nil when the event is not tied to any intent
    /// (for example `READY`, `INTERACTION_CREATE`, `GUILD_MEMBERS_CHUNK` or an unknown name) and is
    /// always delivered.
    ///
    /// The event is delivered when **any one** of the returned intents is set. This follows the
    /// table in spec §9:
    /// - Message, reaction, typing and poll-vote events, and `CHANNEL_PINS_UPDATE`, depend on
    ///   `inGuild`: the guild intent when true, the direct-message intent when false. (Ephemeral
    ///   messages have no `guild_id` and arrive through ``directMessages``.)
    /// - `THREAD_MEMBERS_UPDATE` returns `[.guilds, .guildMembers]`: with only GUILDS it is still
    ///   sent, but only when the current user was added or removed.
    /// - `GUILD_MEMBER_UPDATE` returns ``guildMembers``, although Discord also sends it for the
    ///   bot's own member without that intent.
    /// - Guild-only events ignore `inGuild`.
    ///
    /// - Parameters:
    ///   - name: The dispatch's `t` value, such as `"MESSAGE_CREATE"`.
    ///   - inGuild: Whether the event concerns a guild (it carries a `guild_id`) rather than a DM.
    public static func requiredIntents(forDispatch name: String, inGuild: Bool) -> GatewayIntents? {
        switch name {
        case "GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE",
            "GUILD_ROLE_CREATE", "GUILD_ROLE_UPDATE", "GUILD_ROLE_DELETE",
            "CHANNEL_CREATE", "CHANNEL_UPDATE", "CHANNEL_DELETE",
            "THREAD_CREATE", "THREAD_UPDATE", "THREAD_DELETE", "THREAD_LIST_SYNC", "THREAD_MEMBER_UPDATE",
            "STAGE_INSTANCE_CREATE", "STAGE_INSTANCE_UPDATE", "STAGE_INSTANCE_DELETE",
            "VOICE_CHANNEL_STATUS_UPDATE", "VOICE_CHANNEL_START_TIME_UPDATE":
            return .guilds
        case "CHANNEL_PINS_UPDATE":
            return inGuild ? .guilds : .directMessages
        case "THREAD_MEMBERS_UPDATE":
            return [.guilds, .guildMembers]
        case "GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE", "GUILD_MEMBER_REMOVE":
            return .guildMembers
        case "GUILD_AUDIT_LOG_ENTRY_CREATE", "GUILD_BAN_ADD", "GUILD_BAN_REMOVE":
            return .guildModeration
        case "GUILD_EMOJIS_UPDATE", "GUILD_STICKERS_UPDATE",
            "GUILD_SOUNDBOARD_SOUND_CREATE", "GUILD_SOUNDBOARD_SOUND_UPDATE", "GUILD_SOUNDBOARD_SOUND_DELETE",
            "GUILD_SOUNDBOARD_SOUNDS_UPDATE":
            return .guildExpressions
        case "GUILD_INTEGRATIONS_UPDATE", "INTEGRATION_CREATE", "INTEGRATION_UPDATE", "INTEGRATION_DELETE":
            return .guildIntegrations
        case "WEBHOOKS_UPDATE":
            return .guildWebhooks
        case "INVITE_CREATE", "INVITE_DELETE":
            return .guildInvites
        case "VOICE_CHANNEL_EFFECT_SEND", "VOICE_STATE_UPDATE":
            return .guildVoiceStates
        case "PRESENCE_UPDATE":
            return .guildPresences
        case "MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK":
            return inGuild ? .guildMessages : .directMessages
        case "MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE", "MESSAGE_REACTION_REMOVE_ALL",
            "MESSAGE_REACTION_REMOVE_EMOJI":
            return inGuild ? .guildMessageReactions : .directMessageReactions
        case "TYPING_START":
            return inGuild ? .guildMessageTyping : .directMessageTyping
        case "GUILD_SCHEDULED_EVENT_CREATE", "GUILD_SCHEDULED_EVENT_UPDATE", "GUILD_SCHEDULED_EVENT_DELETE",
            "GUILD_SCHEDULED_EVENT_USER_ADD", "GUILD_SCHEDULED_EVENT_USER_REMOVE":
            return .guildScheduledEvents
        case "AUTO_MODERATION_RULE_CREATE", "AUTO_MODERATION_RULE_UPDATE", "AUTO_MODERATION_RULE_DELETE":
            return .autoModerationConfiguration
        case "AUTO_MODERATION_ACTION_EXECUTION":
            return .autoModerationExecution
        case "MESSAGE_POLL_VOTE_ADD", "MESSAGE_POLL_VOTE_REMOVE":
            return inGuild ? .guildMessagePolls : .directMessagePolls
        default:
            return nil
        }
    }
}
