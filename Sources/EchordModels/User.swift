/// The avatar decoration of a user or member.
public struct AvatarDecorationData: Sendable, Hashable, Codable {
    /// The decoration's asset hash.
    public var asset: String
    /// The SKU the decoration belongs to.
    public var skuID: Snowflake?

    /// Creates avatar decoration data.
    public init(asset: String, skuID: Snowflake? = nil) {
        self.asset = asset
        self.skuID = skuID
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case asset
        case skuID = "sku_id"
    }
}

/// A Discord user (bot or human).
///
/// `id`, `username` and `discriminator` are required (`"0"` for users on the new username system);
/// everything else is optional because partial users omit it. Unknown fields (such as a
/// mention's `member`, `collectibles` or `primary_guild`) are ignored.
public struct User: Sendable, Hashable, Codable {
    /// The user ID.
    public var id: Snowflake
    /// The username (not unique across the platform for legacy users).
    public var username: String
    /// The legacy four-digit tag, or `"0"`.
    public var discriminator: String
    /// The display name, if set.
    public var globalName: String?
    /// The avatar hash.
    public var avatar: String?
    /// Whether the user is a bot.
    public var bot: Bool?
    /// Whether the user is an official Discord system user.
    public var system: Bool?
    /// Whether two-factor authentication is enabled.
    public var mfaEnabled: Bool?
    /// The banner hash.
    public var banner: String?
    /// The banner color as an integer RGB value.
    public var accentColor: Int?
    /// The chosen language.
    public var locale: String?
    /// Whether the email is verified.
    public var verified: Bool?
    /// The email address (only with the `email` OAuth scope; `null` for bots in READY).
    public var email: String?
    /// The user flags bitfield.
    public var flags: Int?
    /// The Nitro subscription type.
    public var premiumType: Int?
    /// The public user flags bitfield.
    public var publicFlags: Int?
    /// The avatar decoration.
    public var avatarDecorationData: AvatarDecorationData?

    /// Creates a user.
    public init(
        id: Snowflake, username: String, discriminator: String = "0", globalName: String? = nil,
        avatar: String? = nil, bot: Bool? = nil, system: Bool? = nil, mfaEnabled: Bool? = nil,
        banner: String? = nil, accentColor: Int? = nil, locale: String? = nil, verified: Bool? = nil,
        email: String? = nil, flags: Int? = nil, premiumType: Int? = nil, publicFlags: Int? = nil,
        avatarDecorationData: AvatarDecorationData? = nil
    ) {
        self.id = id
        self.username = username
        self.discriminator = discriminator
        self.globalName = globalName
        self.avatar = avatar
        self.bot = bot
        self.system = system
        self.mfaEnabled = mfaEnabled
        self.banner = banner
        self.accentColor = accentColor
        self.locale = locale
        self.verified = verified
        self.email = email
        self.flags = flags
        self.premiumType = premiumType
        self.publicFlags = publicFlags
        self.avatarDecorationData = avatarDecorationData
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case id, username, discriminator
        case globalName = "global_name"
        case avatar, bot, system
        case mfaEnabled = "mfa_enabled"
        case banner
        case accentColor = "accent_color"
        case locale, verified, email, flags
        case premiumType = "premium_type"
        case publicFlags = "public_flags"
        case avatarDecorationData = "avatar_decoration_data"
    }
}
