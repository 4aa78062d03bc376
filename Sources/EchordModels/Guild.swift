/// A guild (server), as in GUILD_UPDATE and as the core of GUILD_CREATE.
///
/// Required: `id`, `name`, `owner_id`, `roles`, `emojis`, `features` and the always-present
/// settings numbers; nullable or version-dependent fields are optional. Unknown fields (such as
/// `guild_hashes`, `lazy`, `application_command_counts`) are ignored.
public struct Guild: Sendable, Hashable, Codable {
    /// The guild ID.
    public var id: Snowflake
    /// The guild name.
    public var name: String
    /// The icon hash.
    public var icon: String?
    /// The icon hash, in template objects.
    public var iconHash: String?
    /// The invite splash hash.
    public var splash: String?
    /// The discovery splash hash.
    public var discoverySplash: String?
    /// Whether the current user owns the guild (only from `GET /users/@me/guilds`).
    public var owner: Bool?
    /// The owner's user ID.
    public var ownerID: Snowflake
    /// The current user's permissions (only from `GET /users/@me/guilds`).
    public var permissions: String?
    /// The deprecated voice region.
    public var region: String?
    /// The AFK voice channel.
    public var afkChannelID: Snowflake?
    /// The AFK timeout in seconds.
    public var afkTimeout: Int
    /// Whether the server widget is enabled.
    public var widgetEnabled: Bool?
    /// The widget's invite channel.
    public var widgetChannelID: Snowflake?
    /// The verification level (0-4).
    public var verificationLevel: Int
    /// The default message notification level (0 all, 1 mentions only).
    public var defaultMessageNotifications: Int
    /// The explicit content filter level (0-2).
    public var explicitContentFilter: Int
    /// The guild's roles.
    public var roles: [Role]
    /// The guild's custom emojis.
    public var emojis: [Emoji]
    /// Enabled guild features, such as `"COMMUNITY"`.
    public var features: [String]
    /// The required MFA level for moderation (0 none, 1 elevated).
    public var mfaLevel: Int
    /// The application that created the guild, if a bot did.
    public var applicationID: Snowflake?
    /// The channel for system messages.
    public var systemChannelID: Snowflake?
    /// The system channel flags bitfield.
    public var systemChannelFlags: Int
    /// The rules channel of a community guild.
    public var rulesChannelID: Snowflake?
    /// The maximum presences (nil except for the largest guilds).
    public var maxPresences: Int?
    /// The maximum members.
    public var maxMembers: Int?
    /// The vanity invite code.
    public var vanityURLCode: String?
    /// The description.
    public var description: String?
    /// The banner hash.
    public var banner: String?
    /// The boost tier (0-3).
    public var premiumTier: Int
    /// The number of boosts.
    public var premiumSubscriptionCount: Int?
    /// The preferred locale of a community guild, for example `"en-US"`.
    public var preferredLocale: String
    /// The channel for Discord's notices to community guild moderators.
    public var publicUpdatesChannelID: Snowflake?
    /// The maximum users in a video channel.
    public var maxVideoChannelUsers: Int?
    /// The maximum users in a stage video channel.
    public var maxStageVideoChannelUsers: Int?
    /// Approximate member count (only from some REST endpoints).
    public var approximateMemberCount: Int?
    /// Approximate online member count (only from some REST endpoints).
    public var approximatePresenceCount: Int?
    /// The welcome screen of a community guild, untyped.
    public var welcomeScreen: JSONValue?
    /// The NSFW level (0-3).
    public var nsfwLevel: Int?
    /// The guild's stickers, untyped.
    public var stickers: [JSONValue]?
    /// Whether the boost progress bar is shown.
    public var premiumProgressBarEnabled: Bool?
    /// The channel for safety alerts of a community guild.
    public var safetyAlertsChannelID: Snowflake?

    /// Creates a guild. Settings default to Discord's values for a new guild.
    public init(
        id: Snowflake, name: String, icon: String? = nil, iconHash: String? = nil, splash: String? = nil,
        discoverySplash: String? = nil, owner: Bool? = nil, ownerID: Snowflake, permissions: String? = nil,
        region: String? = nil, afkChannelID: Snowflake? = nil, afkTimeout: Int = 300, widgetEnabled: Bool? = nil,
        widgetChannelID: Snowflake? = nil, verificationLevel: Int = 0, defaultMessageNotifications: Int = 0,
        explicitContentFilter: Int = 0, roles: [Role] = [], emojis: [Emoji] = [], features: [String] = [],
        mfaLevel: Int = 0, applicationID: Snowflake? = nil, systemChannelID: Snowflake? = nil,
        systemChannelFlags: Int = 0, rulesChannelID: Snowflake? = nil, maxPresences: Int? = nil,
        maxMembers: Int? = nil, vanityURLCode: String? = nil, description: String? = nil, banner: String? = nil,
        premiumTier: Int = 0, premiumSubscriptionCount: Int? = nil, preferredLocale: String = "en-US",
        publicUpdatesChannelID: Snowflake? = nil, maxVideoChannelUsers: Int? = nil,
        maxStageVideoChannelUsers: Int? = nil, approximateMemberCount: Int? = nil,
        approximatePresenceCount: Int? = nil, welcomeScreen: JSONValue? = nil, nsfwLevel: Int? = nil,
        stickers: [JSONValue]? = nil, premiumProgressBarEnabled: Bool? = nil, safetyAlertsChannelID: Snowflake? = nil
    ) {
        self.id = id
        self.name = name
        self.icon = icon
        self.iconHash = iconHash
        self.splash = splash
        self.discoverySplash = discoverySplash
        self.owner = owner
        self.ownerID = ownerID
        self.permissions = permissions
        self.region = region
        self.afkChannelID = afkChannelID
        self.afkTimeout = afkTimeout
        self.widgetEnabled = widgetEnabled
        self.widgetChannelID = widgetChannelID
        self.verificationLevel = verificationLevel
        self.defaultMessageNotifications = defaultMessageNotifications
        self.explicitContentFilter = explicitContentFilter
        self.roles = roles
        self.emojis = emojis
        self.features = features
        self.mfaLevel = mfaLevel
        self.applicationID = applicationID
        self.systemChannelID = systemChannelID
        self.systemChannelFlags = systemChannelFlags
        self.rulesChannelID = rulesChannelID
        self.maxPresences = maxPresences
        self.maxMembers = maxMembers
        self.vanityURLCode = vanityURLCode
        self.description = description
        self.banner = banner
        self.premiumTier = premiumTier
        self.premiumSubscriptionCount = premiumSubscriptionCount
        self.preferredLocale = preferredLocale
        self.publicUpdatesChannelID = publicUpdatesChannelID
        self.maxVideoChannelUsers = maxVideoChannelUsers
        self.maxStageVideoChannelUsers = maxStageVideoChannelUsers
        self.approximateMemberCount = approximateMemberCount
        self.approximatePresenceCount = approximatePresenceCount
        self.welcomeScreen = welcomeScreen
        self.nsfwLevel = nsfwLevel
        self.stickers = stickers
        self.premiumProgressBarEnabled = premiumProgressBarEnabled
        self.safetyAlertsChannelID = safetyAlertsChannelID
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case id, name, icon
        case iconHash = "icon_hash"
        case splash
        case discoverySplash = "discovery_splash"
        case owner
        case ownerID = "owner_id"
        case permissions, region
        case afkChannelID = "afk_channel_id"
        case afkTimeout = "afk_timeout"
        case widgetEnabled = "widget_enabled"
        case widgetChannelID = "widget_channel_id"
        case verificationLevel = "verification_level"
        case defaultMessageNotifications = "default_message_notifications"
        case explicitContentFilter = "explicit_content_filter"
        case roles, emojis, features
        case mfaLevel = "mfa_level"
        case applicationID = "application_id"
        case systemChannelID = "system_channel_id"
        case systemChannelFlags = "system_channel_flags"
        case rulesChannelID = "rules_channel_id"
        case maxPresences = "max_presences"
        case maxMembers = "max_members"
        case vanityURLCode = "vanity_url_code"
        case description, banner
        case premiumTier = "premium_tier"
        case premiumSubscriptionCount = "premium_subscription_count"
        case preferredLocale = "preferred_locale"
        case publicUpdatesChannelID = "public_updates_channel_id"
        case maxVideoChannelUsers = "max_video_channel_users"
        case maxStageVideoChannelUsers = "max_stage_video_channel_users"
        case approximateMemberCount = "approximate_member_count"
        case approximatePresenceCount = "approximate_presence_count"
        case welcomeScreen = "welcome_screen"
        case nsfwLevel = "nsfw_level"
        case stickers
        case premiumProgressBarEnabled = "premium_progress_bar_enabled"
        case safetyAlertsChannelID = "safety_alerts_channel_id"
    }
}
