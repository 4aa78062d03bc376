/// A user's voice connection state, as in GUILD_CREATE's `voice_states` and VOICE_STATE_UPDATE.
///
/// Decoding is lenient: missing Boolean flags decode as false.
public struct VoiceState: Sendable, Hashable, Codable {
    /// The guild; absent inside GUILD_CREATE.
    public var guildID: Snowflake?
    /// The voice channel, nil when the user left.
    public var channelID: Snowflake?
    /// The user.
    public var userID: Snowflake
    /// The guild member, in VOICE_STATE_UPDATE.
    public var member: GuildMember?
    /// The voice session ID.
    public var sessionID: String
    /// Whether the user is server-deafened.
    public var deaf: Bool
    /// Whether the user is server-muted.
    public var mute: Bool
    /// Whether the user deafened themselves.
    public var selfDeaf: Bool
    /// Whether the user muted themselves.
    public var selfMute: Bool
    /// Whether the user is streaming ("Go Live").
    public var selfStream: Bool?
    /// Whether the user's camera is on.
    public var selfVideo: Bool
    /// Whether the user may not speak (stage channels).
    public var suppress: Bool
    /// When the user asked to speak (ISO 8601).
    public var requestToSpeakTimestamp: String?

    /// Creates a voice state.
    public init(
        guildID: Snowflake? = nil, channelID: Snowflake?, userID: Snowflake, member: GuildMember? = nil,
        sessionID: String, deaf: Bool = false, mute: Bool = false, selfDeaf: Bool = false, selfMute: Bool = false,
        selfStream: Bool? = nil, selfVideo: Bool = false, suppress: Bool = false,
        requestToSpeakTimestamp: String? = nil
    ) {
        self.guildID = guildID
        self.channelID = channelID
        self.userID = userID
        self.member = member
        self.sessionID = sessionID
        self.deaf = deaf
        self.mute = mute
        self.selfDeaf = selfDeaf
        self.selfMute = selfMute
        self.selfStream = selfStream
        self.selfVideo = selfVideo
        self.suppress = suppress
        self.requestToSpeakTimestamp = requestToSpeakTimestamp
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case guildID = "guild_id"
        case channelID = "channel_id"
        case userID = "user_id"
        case member
        case sessionID = "session_id"
        case deaf, mute
        case selfDeaf = "self_deaf"
        case selfMute = "self_mute"
        case selfStream = "self_stream"
        case selfVideo = "self_video"
        case suppress
        case requestToSpeakTimestamp = "request_to_speak_timestamp"
    }

    /// Decodes leniently (missing flags are false).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.guildID = try c.decodeIfPresent(Snowflake.self, forKey: .guildID)
        self.channelID = try c.decodeIfPresent(Snowflake.self, forKey: .channelID)
        self.userID = try c.decode(Snowflake.self, forKey: .userID)
        self.member = try c.decodeIfPresent(GuildMember.self, forKey: .member)
        self.sessionID = try c.decode(String.self, forKey: .sessionID)
        self.deaf = try c.decodeIfPresent(Bool.self, forKey: .deaf) ?? false
        self.mute = try c.decodeIfPresent(Bool.self, forKey: .mute) ?? false
        self.selfDeaf = try c.decodeIfPresent(Bool.self, forKey: .selfDeaf) ?? false
        self.selfMute = try c.decodeIfPresent(Bool.self, forKey: .selfMute) ?? false
        self.selfStream = try c.decodeIfPresent(Bool.self, forKey: .selfStream)
        self.selfVideo = try c.decodeIfPresent(Bool.self, forKey: .selfVideo) ?? false
        self.suppress = try c.decodeIfPresent(Bool.self, forKey: .suppress) ?? false
        self.requestToSpeakTimestamp = try c.decodeIfPresent(String.self, forKey: .requestToSpeakTimestamp)
    }
}

/// The body of a GUILD_CREATE dispatch for an available guild: a ``Guild`` plus the extra fields
/// only sent on the gateway (spec §10.1).
///
/// The guild fields live in ``guild`` and are also readable directly through dynamic member
/// lookup (`guildCreate.name`, `guildCreate.id`). On the wire both are one flat JSON object.
///
/// During outages GUILD_CREATE may instead carry only `{id, unavailable: true}`, which does **not**
/// decode as `GuildCreate` (it lacks the guild's fields); decode it as ``UnavailableGuild`` when
/// this type fails, or check for the `name` key first.
///
/// Missing extra arrays (`members`, `channels`, …) decode as empty.
@dynamicMemberLookup
public struct GuildCreate: Sendable, Hashable, Codable {
    /// The guild's regular fields.
    public var guild: Guild
    /// When the bot joined the guild (ISO 8601).
    public var joinedAt: String?
    /// Whether the guild counts as large (more members than Identify's `large_threshold`).
    public var large: Bool?
    /// Whether the guild is unavailable (false here, since the object is complete).
    public var unavailable: Bool?
    /// The total member count.
    public var memberCount: Int?
    /// Current voice states (without `guild_id`).
    public var voiceStates: [VoiceState]
    /// Members: all of them, or for large guilds / without GUILD_PRESENCES only the bot and users in voice.
    public var members: [GuildMember]
    /// The guild's channels (without `guild_id`).
    public var channels: [Channel]
    /// The active threads the bot can see.
    public var threads: [Channel]
    /// Presences (offline users omitted above `large_threshold`).
    public var presences: [PresencePayload]
    /// Stage instances, untyped.
    public var stageInstances: [JSONValue]
    /// Scheduled events, untyped.
    public var guildScheduledEvents: [JSONValue]
    /// Soundboard sounds, untyped.
    public var soundboardSounds: [JSONValue]

    /// Creates a GUILD_CREATE body.
    public init(
        guild: Guild, joinedAt: String? = nil, large: Bool? = false, unavailable: Bool? = false,
        memberCount: Int? = nil, voiceStates: [VoiceState] = [], members: [GuildMember] = [],
        channels: [Channel] = [], threads: [Channel] = [], presences: [PresencePayload] = [],
        stageInstances: [JSONValue] = [], guildScheduledEvents: [JSONValue] = [], soundboardSounds: [JSONValue] = []
    ) {
        self.guild = guild
        self.joinedAt = joinedAt
        self.large = large
        self.unavailable = unavailable
        self.memberCount = memberCount
        self.voiceStates = voiceStates
        self.members = members
        self.channels = channels
        self.threads = threads
        self.presences = presences
        self.stageInstances = stageInstances
        self.guildScheduledEvents = guildScheduledEvents
        self.soundboardSounds = soundboardSounds
    }

    /// Reads a field of ``guild`` directly, for example `guildCreate.name`.
    public subscript<Value>(dynamicMember keyPath: KeyPath<Guild, Value>) -> Value {
        guild[keyPath: keyPath]
    }

    /// Reads or writes a field of ``guild`` directly.
    public subscript<Value>(dynamicMember keyPath: WritableKeyPath<Guild, Value>) -> Value {
        get { guild[keyPath: keyPath] }
        set { guild[keyPath: keyPath] = newValue }
    }

    /// Wire keys of the gateway-only fields.
    enum CodingKeys: String, CodingKey {
        case joinedAt = "joined_at"
        case large, unavailable
        case memberCount = "member_count"
        case voiceStates = "voice_states"
        case members, channels, threads, presences
        case stageInstances = "stage_instances"
        case guildScheduledEvents = "guild_scheduled_events"
        case soundboardSounds = "soundboard_sounds"
    }

    /// Decodes the guild and the extra fields from one flat object.
    public init(from decoder: any Decoder) throws {
        self.guild = try Guild(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.joinedAt = try c.decodeIfPresent(String.self, forKey: .joinedAt)
        self.large = try c.decodeIfPresent(Bool.self, forKey: .large)
        self.unavailable = try c.decodeIfPresent(Bool.self, forKey: .unavailable)
        self.memberCount = try c.decodeIfPresent(Int.self, forKey: .memberCount)
        self.voiceStates = try c.decodeIfPresent([VoiceState].self, forKey: .voiceStates) ?? []
        self.members = try c.decodeIfPresent([GuildMember].self, forKey: .members) ?? []
        self.channels = try c.decodeIfPresent([Channel].self, forKey: .channels) ?? []
        self.threads = try c.decodeIfPresent([Channel].self, forKey: .threads) ?? []
        self.presences = try c.decodeIfPresent([PresencePayload].self, forKey: .presences) ?? []
        self.stageInstances = try c.decodeIfPresent([JSONValue].self, forKey: .stageInstances) ?? []
        self.guildScheduledEvents = try c.decodeIfPresent([JSONValue].self, forKey: .guildScheduledEvents) ?? []
        self.soundboardSounds = try c.decodeIfPresent([JSONValue].self, forKey: .soundboardSounds) ?? []
    }

    /// Encodes the guild and the extra fields into one flat object.
    public func encode(to encoder: any Encoder) throws {
        try guild.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(joinedAt, forKey: .joinedAt)
        try c.encodeIfPresent(large, forKey: .large)
        try c.encodeIfPresent(unavailable, forKey: .unavailable)
        try c.encodeIfPresent(memberCount, forKey: .memberCount)
        try c.encode(voiceStates, forKey: .voiceStates)
        try c.encode(members, forKey: .members)
        try c.encode(channels, forKey: .channels)
        try c.encode(threads, forKey: .threads)
        try c.encode(presences, forKey: .presences)
        try c.encode(stageInstances, forKey: .stageInstances)
        try c.encode(guildScheduledEvents, forKey: .guildScheduledEvents)
        try c.encode(soundboardSounds, forKey: .soundboardSounds)
    }
}
