/// A channel's type. Unknown values are kept.
public struct ChannelType: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    /// The wire value.
    public var rawValue: Int

    /// Wraps any channel type number.
    public init(rawValue: Int) {
        self.rawValue = rawValue
    }

    /// 0: a guild text channel.
    public static let guildText = ChannelType(rawValue: 0)
    /// 1: a direct message.
    public static let dm = ChannelType(rawValue: 1)
    /// 2: a guild voice channel.
    public static let guildVoice = ChannelType(rawValue: 2)
    /// 3: a group direct message.
    public static let groupDM = ChannelType(rawValue: 3)
    /// 4: a guild category.
    public static let guildCategory = ChannelType(rawValue: 4)
    /// 5: a guild announcement channel.
    public static let guildAnnouncement = ChannelType(rawValue: 5)
    /// 10: a thread in an announcement channel.
    public static let announcementThread = ChannelType(rawValue: 10)
    /// 11: a public thread.
    public static let publicThread = ChannelType(rawValue: 11)
    /// 12: a private thread.
    public static let privateThread = ChannelType(rawValue: 12)
    /// 13: a stage channel.
    public static let guildStageVoice = ChannelType(rawValue: 13)
    /// 14: a student hub directory.
    public static let guildDirectory = ChannelType(rawValue: 14)
    /// 15: a forum channel.
    public static let guildForum = ChannelType(rawValue: 15)
    /// 16: a media channel.
    public static let guildMedia = ChannelType(rawValue: 16)

    /// Whether this is one of the three thread types.
    public var isThread: Bool { rawValue == 10 || rawValue == 11 || rawValue == 12 }

    /// The wire value as text.
    public var description: String { String(rawValue) }
}

/// A permission overwrite on a channel.
public struct PermissionOverwrite: Sendable, Hashable, Codable {
    /// The role or user ID.
    public var id: Snowflake
    /// 0 for a role, 1 for a member.
    public var type: Int
    /// Allowed permissions, as a decimal bitfield string.
    public var allow: String
    /// Denied permissions, as a decimal bitfield string.
    public var deny: String

    /// Creates a permission overwrite.
    public init(id: Snowflake, type: Int, allow: String = "0", deny: String = "0") {
        self.id = id
        self.type = type
        self.allow = allow
        self.deny = deny
    }
}

/// A channel or thread, with the fields common to its kinds; everything but `id` and `type` is
/// optional. Thread metadata and thread members are kept as ``JSONValue``.
public struct Channel: Sendable, Hashable, Codable {
    /// The channel ID.
    public var id: Snowflake
    /// The channel type.
    public var type: ChannelType
    /// The guild, absent for DMs and inside GUILD_CREATE's `channels`.
    public var guildID: Snowflake?
    /// The sorting position.
    public var position: Int?
    /// Explicit permission overwrites.
    public var permissionOverwrites: [PermissionOverwrite]?
    /// The name.
    public var name: String?
    /// The topic.
    public var topic: String?
    /// Whether the channel is age-restricted.
    public var nsfw: Bool?
    /// The ID of the last message (may not point to an existing message).
    public var lastMessageID: Snowflake?
    /// The voice bitrate.
    public var bitrate: Int?
    /// The voice user limit.
    public var userLimit: Int?
    /// Slow-mode seconds per user.
    public var rateLimitPerUser: Int?
    /// The recipients of a DM.
    public var recipients: [User]?
    /// The group DM icon hash.
    public var icon: String?
    /// The creator of a group DM or thread.
    public var ownerID: Snowflake?
    /// The application that created a group DM.
    public var applicationID: Snowflake?
    /// The parent category, or for a thread the channel it was created in.
    public var parentID: Snowflake?
    /// When the last message was pinned (ISO 8601).
    public var lastPinTimestamp: String?
    /// The voice region, nil for automatic.
    public var rtcRegion: String?
    /// The camera video quality mode.
    public var videoQualityMode: Int?
    /// Approximate thread message count.
    public var messageCount: Int?
    /// Approximate thread member count (stops at 50).
    public var memberCount: Int?
    /// Thread-specific fields (archived, auto_archive_duration …), untyped.
    public var threadMetadata: JSONValue?
    /// The current user's thread member object, untyped.
    public var member: JSONValue?
    /// Default thread auto-archive minutes.
    public var defaultAutoArchiveDuration: Int?
    /// Computed permissions (in interactions), as a decimal string.
    public var permissions: String?
    /// The channel flags bitfield.
    public var flags: Int?
    /// Messages ever sent in a thread.
    public var totalMessageSent: Int?
    /// Forum tags applied to a thread.
    public var appliedTags: [Snowflake]?
    /// Set on THREAD_CREATE for a newly created thread.
    public var newlyCreated: Bool?

    /// Creates a channel.
    public init(
        id: Snowflake, type: ChannelType, guildID: Snowflake? = nil, position: Int? = nil,
        permissionOverwrites: [PermissionOverwrite]? = nil, name: String? = nil, topic: String? = nil,
        nsfw: Bool? = nil, lastMessageID: Snowflake? = nil, bitrate: Int? = nil, userLimit: Int? = nil,
        rateLimitPerUser: Int? = nil, recipients: [User]? = nil, icon: String? = nil, ownerID: Snowflake? = nil,
        applicationID: Snowflake? = nil, parentID: Snowflake? = nil, lastPinTimestamp: String? = nil,
        rtcRegion: String? = nil, videoQualityMode: Int? = nil, messageCount: Int? = nil, memberCount: Int? = nil,
        threadMetadata: JSONValue? = nil, member: JSONValue? = nil, defaultAutoArchiveDuration: Int? = nil,
        permissions: String? = nil, flags: Int? = nil, totalMessageSent: Int? = nil,
        appliedTags: [Snowflake]? = nil, newlyCreated: Bool? = nil
    ) {
        self.id = id
        self.type = type
        self.guildID = guildID
        self.position = position
        self.permissionOverwrites = permissionOverwrites
        self.name = name
        self.topic = topic
        self.nsfw = nsfw
        self.lastMessageID = lastMessageID
        self.bitrate = bitrate
        self.userLimit = userLimit
        self.rateLimitPerUser = rateLimitPerUser
        self.recipients = recipients
        self.icon = icon
        self.ownerID = ownerID
        self.applicationID = applicationID
        self.parentID = parentID
        self.lastPinTimestamp = lastPinTimestamp
        self.rtcRegion = rtcRegion
        self.videoQualityMode = videoQualityMode
        self.messageCount = messageCount
        self.memberCount = memberCount
        self.threadMetadata = threadMetadata
        self.member = member
        self.defaultAutoArchiveDuration = defaultAutoArchiveDuration
        self.permissions = permissions
        self.flags = flags
        self.totalMessageSent = totalMessageSent
        self.appliedTags = appliedTags
        self.newlyCreated = newlyCreated
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case id, type
        case guildID = "guild_id"
        case position
        case permissionOverwrites = "permission_overwrites"
        case name, topic, nsfw
        case lastMessageID = "last_message_id"
        case bitrate
        case userLimit = "user_limit"
        case rateLimitPerUser = "rate_limit_per_user"
        case recipients, icon
        case ownerID = "owner_id"
        case applicationID = "application_id"
        case parentID = "parent_id"
        case lastPinTimestamp = "last_pin_timestamp"
        case rtcRegion = "rtc_region"
        case videoQualityMode = "video_quality_mode"
        case messageCount = "message_count"
        case memberCount = "member_count"
        case threadMetadata = "thread_metadata"
        case member
        case defaultAutoArchiveDuration = "default_auto_archive_duration"
        case permissions, flags
        case totalMessageSent = "total_message_sent"
        case appliedTags = "applied_tags"
        case newlyCreated = "newly_created"
    }
}
