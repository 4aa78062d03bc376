/// A user's membership in a guild: the entries of GUILD_CREATE's `members`, GUILD_MEMBERS_CHUNK,
/// GUILD_MEMBER_ADD/UPDATE bodies and the partial `member` of MESSAGE_CREATE.
///
/// Decoding is lenient: partial members omit `user`, `deaf`, `mute` and more, so those are optional;
/// a missing `roles` decodes as empty; and a `user` that is not a decodable user (the docs' example
/// uses `{}`) decodes as nil instead of failing the member.
public struct GuildMember: Sendable, Hashable, Codable {
    /// The user; absent in MESSAGE_CREATE's `member` (the message's `author` is the user).
    public var user: User?
    /// The guild nickname.
    public var nick: String?
    /// The guild-specific avatar hash.
    public var avatar: String?
    /// The guild-specific banner hash.
    public var banner: String?
    /// The IDs of the member's roles.
    public var roles: [Snowflake]
    /// When the user joined the guild (ISO 8601); nil for guest members.
    public var joinedAt: String?
    /// When the user started boosting the guild (ISO 8601).
    public var premiumSince: String?
    /// Whether the member is server-deafened.
    public var deaf: Bool?
    /// Whether the member is server-muted.
    public var mute: Bool?
    /// The guild member flags bitfield.
    public var flags: Int?
    /// Whether the member has not yet passed membership screening.
    public var pending: Bool?
    /// The member's permissions in a channel (only in interactions), as a decimal string.
    public var permissions: String?
    /// When the member's timeout ends (ISO 8601).
    public var communicationDisabledUntil: String?
    /// The guild-specific avatar decoration.
    public var avatarDecorationData: AvatarDecorationData?
    /// The guild, in GUILD_MEMBER_ADD and GUILD_MEMBER_UPDATE bodies.
    public var guildID: Snowflake?

    /// Creates a guild member.
    public init(
        user: User? = nil, nick: String? = nil, avatar: String? = nil, banner: String? = nil,
        roles: [Snowflake] = [], joinedAt: String? = nil, premiumSince: String? = nil, deaf: Bool? = nil,
        mute: Bool? = nil, flags: Int? = nil, pending: Bool? = nil, permissions: String? = nil,
        communicationDisabledUntil: String? = nil, avatarDecorationData: AvatarDecorationData? = nil,
        guildID: Snowflake? = nil
    ) {
        self.user = user
        self.nick = nick
        self.avatar = avatar
        self.banner = banner
        self.roles = roles
        self.joinedAt = joinedAt
        self.premiumSince = premiumSince
        self.deaf = deaf
        self.mute = mute
        self.flags = flags
        self.pending = pending
        self.permissions = permissions
        self.communicationDisabledUntil = communicationDisabledUntil
        self.avatarDecorationData = avatarDecorationData
        self.guildID = guildID
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case user, nick, avatar, banner, roles
        case joinedAt = "joined_at"
        case premiumSince = "premium_since"
        case deaf, mute, flags, pending, permissions
        case communicationDisabledUntil = "communication_disabled_until"
        case avatarDecorationData = "avatar_decoration_data"
        case guildID = "guild_id"
    }

    /// Decodes leniently (see the type's documentation).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.user = (try? container.decodeIfPresent(User.self, forKey: .user)) ?? nil
        self.nick = try container.decodeIfPresent(String.self, forKey: .nick)
        self.avatar = try container.decodeIfPresent(String.self, forKey: .avatar)
        self.banner = try container.decodeIfPresent(String.self, forKey: .banner)
        self.roles = try container.decodeIfPresent([Snowflake].self, forKey: .roles) ?? []
        self.joinedAt = try container.decodeIfPresent(String.self, forKey: .joinedAt)
        self.premiumSince = try container.decodeIfPresent(String.self, forKey: .premiumSince)
        self.deaf = try container.decodeIfPresent(Bool.self, forKey: .deaf)
        self.mute = try container.decodeIfPresent(Bool.self, forKey: .mute)
        self.flags = try container.decodeIfPresent(Int.self, forKey: .flags)
        self.pending = try container.decodeIfPresent(Bool.self, forKey: .pending)
        self.permissions = try container.decodeIfPresent(String.self, forKey: .permissions)
        self.communicationDisabledUntil = try container.decodeIfPresent(
            String.self, forKey: .communicationDisabledUntil)
        self.avatarDecorationData = try container.decodeIfPresent(
            AvatarDecorationData.self, forKey: .avatarDecorationData)
        self.guildID = try container.decodeIfPresent(Snowflake.self, forKey: .guildID)
    }
}
