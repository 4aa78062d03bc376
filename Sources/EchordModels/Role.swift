/// A guild role.
public struct Role: Sendable, Hashable, Codable {
    /// The role ID (the `@everyone` role shares the guild's ID).
    public var id: Snowflake
    /// The role name.
    public var name: String
    /// The color as an integer RGB value (0 = none). Deprecated by Discord in favour of `colors`.
    public var color: Int
    /// Whether the role is shown separately in the member list.
    public var hoist: Bool
    /// The role icon hash.
    public var icon: String?
    /// The role's unicode emoji.
    public var unicodeEmoji: String?
    /// The position in the role list.
    public var position: Int
    /// The permission bitfield, as a decimal string.
    public var permissions: String
    /// Whether an integration manages the role.
    public var managed: Bool
    /// Whether the role can be mentioned.
    public var mentionable: Bool
    /// The role tags (bot, integration, subscription …), untyped.
    public var tags: JSONValue?
    /// The role flags bitfield.
    public var flags: Int?
    /// The role's colors object (primary, secondary, tertiary), untyped.
    public var colors: JSONValue?

    /// Creates a role.
    public init(
        id: Snowflake, name: String, color: Int = 0, hoist: Bool = false, icon: String? = nil,
        unicodeEmoji: String? = nil, position: Int = 0, permissions: String = "0", managed: Bool = false,
        mentionable: Bool = false, tags: JSONValue? = nil, flags: Int? = nil, colors: JSONValue? = nil
    ) {
        self.id = id
        self.name = name
        self.color = color
        self.hoist = hoist
        self.icon = icon
        self.unicodeEmoji = unicodeEmoji
        self.position = position
        self.permissions = permissions
        self.managed = managed
        self.mentionable = mentionable
        self.tags = tags
        self.flags = flags
        self.colors = colors
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case id, name, color, hoist, icon
        case unicodeEmoji = "unicode_emoji"
        case position, permissions, managed, mentionable, tags, flags, colors
    }
}

/// An emoji: a custom guild emoji, or a standard unicode emoji (then `id` is nil and `name` is the
/// character, as in reactions).
public struct Emoji: Sendable, Hashable, Codable {
    /// The emoji ID; nil for standard emoji.
    public var id: Snowflake?
    /// The name; nil only in some reaction emoji of deleted custom emoji.
    public var name: String?
    /// Roles allowed to use the emoji.
    public var roles: [Snowflake]?
    /// The user who created the emoji.
    public var user: User?
    /// Whether the emoji must be wrapped in colons.
    public var requireColons: Bool?
    /// Whether an integration manages the emoji.
    public var managed: Bool?
    /// Whether the emoji is animated.
    public var animated: Bool?
    /// Whether the emoji can be used (false when the guild lost boosts).
    public var available: Bool?

    /// Creates an emoji.
    public init(
        id: Snowflake? = nil, name: String? = nil, roles: [Snowflake]? = nil, user: User? = nil,
        requireColons: Bool? = nil, managed: Bool? = nil, animated: Bool? = nil, available: Bool? = nil
    ) {
        self.id = id
        self.name = name
        self.roles = roles
        self.user = user
        self.requireColons = requireColons
        self.managed = managed
        self.animated = animated
        self.available = available
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case id, name, roles, user
        case requireColons = "require_colons"
        case managed, animated, available
    }
}
