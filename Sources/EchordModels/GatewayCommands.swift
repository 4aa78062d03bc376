/// The body of Update Voice State (op 4): join, move between or leave voice channels.
public struct VoiceStateUpdate: Sendable, Hashable, Codable {
    /// The guild.
    public var guildID: Snowflake
    /// The voice channel to join, or nil to leave.
    public var channelID: Snowflake?
    /// Whether the bot mutes itself.
    public var selfMute: Bool
    /// Whether the bot deafens itself.
    public var selfDeaf: Bool

    /// Creates an Update Voice State body.
    public init(guildID: Snowflake, channelID: Snowflake?, selfMute: Bool = false, selfDeaf: Bool = false) {
        self.guildID = guildID
        self.channelID = channelID
        self.selfMute = selfMute
        self.selfDeaf = selfDeaf
    }

    enum CodingKeys: String, CodingKey {
        case guildID = "guild_id", channelID = "channel_id", selfMute = "self_mute", selfDeaf = "self_deaf"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(guildID, forKey: .guildID)
        try c.encode(channelID, forKey: .channelID)  // null leaves the channel: always written
        try c.encode(selfMute, forKey: .selfMute)
        try c.encode(selfDeaf, forKey: .selfDeaf)
    }
}

/// The body of Request Soundboard Sounds (op 31), answered with one SOUNDBOARD_SOUNDS per guild.
public struct RequestSoundboardSounds: Sendable, Hashable, Codable {
    /// The guilds to list.
    public var guildIDs: [Snowflake]

    /// Creates a Request Soundboard Sounds body.
    public init(guildIDs: [Snowflake]) { self.guildIDs = guildIDs }

    enum CodingKeys: String, CodingKey { case guildIDs = "guild_ids" }
}

/// The body of Request Channel Info (op 43), answered with CHANNEL_INFO.
public struct RequestChannelInfo: Sendable, Hashable, Codable {
    /// The guild.
    public var guildID: Snowflake
    /// The ephemeral fields wanted: `status`, `voice_start_time`.
    public var fields: [String]

    /// Creates a Request Channel Info body.
    public init(guildID: Snowflake, fields: [String] = ["status", "voice_start_time"]) {
        self.guildID = guildID
        self.fields = fields
    }

    enum CodingKeys: String, CodingKey { case guildID = "guild_id", fields }
}
