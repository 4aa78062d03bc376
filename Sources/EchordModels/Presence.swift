/// A user's status. Unknown values are kept.
public struct PresenceStatus: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    /// The wire value, for example `"dnd"`.
    public var rawValue: String

    /// Wraps any status string.
    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// Online.
    public static let online = PresenceStatus(rawValue: "online")
    /// Do not disturb.
    public static let dnd = PresenceStatus(rawValue: "dnd")
    /// Away.
    public static let idle = PresenceStatus(rawValue: "idle")
    /// Invisible: shown as offline (only for setting your own presence).
    public static let invisible = PresenceStatus(rawValue: "invisible")
    /// Offline.
    public static let offline = PresenceStatus(rawValue: "offline")

    /// The wire value.
    public var description: String { rawValue }
}

/// An activity's type. Unknown values are kept.
public struct ActivityType: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    /// The wire value.
    public var rawValue: Int

    /// Wraps any activity type number.
    public init(rawValue: Int) {
        self.rawValue = rawValue
    }

    /// 0: "Playing {name}".
    public static let playing = ActivityType(rawValue: 0)
    /// 1: "Streaming {details}"; needs a Twitch or YouTube `url`.
    public static let streaming = ActivityType(rawValue: 1)
    /// 2: "Listening to {name}".
    public static let listening = ActivityType(rawValue: 2)
    /// 3: "Watching {name}".
    public static let watching = ActivityType(rawValue: 3)
    /// 4: a custom status showing `state`.
    public static let custom = ActivityType(rawValue: 4)
    /// 5: "Competing in {name}".
    public static let competing = ActivityType(rawValue: 5)

    /// The wire value as text.
    public var description: String { String(rawValue) }
}

/// An activity as a bot may send it in a presence update: only `name`, `type`, `url` and `state`.
///
/// Decoding ignores the other fields of received (rich presence) activities; use ``JSONValue``
/// (as ``PresencePayload/activities`` does) to keep them.
public struct Activity: Sendable, Hashable, Codable {
    /// The activity's name.
    public var name: String
    /// The activity's type.
    public var type: ActivityType
    /// The stream URL, for ``ActivityType/streaming``.
    public var url: String?
    /// The status text, for example of a ``ActivityType/custom`` status.
    public var state: String?

    /// Creates an activity.
    public init(name: String, type: ActivityType, url: String? = nil, state: String? = nil) {
        self.name = name
        self.type = type
        self.url = url
        self.state = state
    }
}

/// The body of Presence Update (op 3), also used as Identify's `presence` (spec §10.2).
///
/// `since` is always encoded, as `null` when nil. Decoding tolerates missing `activities`
/// (empty) and `afk` (false).
public struct PresenceUpdate: Sendable, Hashable, Codable {
    /// Unix time in milliseconds when the client went idle, or nil when not idle.
    public var since: Int?
    /// The bot's activities.
    public var activities: [Activity]
    /// The bot's status.
    public var status: PresenceStatus
    /// Whether the client is AFK.
    public var afk: Bool

    /// Creates a presence update.
    public init(since: Int? = nil, activities: [Activity] = [], status: PresenceStatus, afk: Bool = false) {
        self.since = since
        self.activities = activities
        self.status = status
        self.afk = afk
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case since, activities, status, afk
    }

    /// Decodes leniently (missing activities and afk get defaults).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.since = try container.decodeIfPresent(Int.self, forKey: .since)
        self.activities = try container.decodeIfPresent([Activity].self, forKey: .activities) ?? []
        self.status = try container.decode(PresenceStatus.self, forKey: .status)
        self.afk = try container.decodeIfPresent(Bool.self, forKey: .afk) ?? false
    }

    /// Encodes all four fields; `since` as `null` when nil.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if let since {
            try container.encode(since, forKey: .since)
        } else {
            try container.encodeNil(forKey: .since)
        }
        try container.encode(activities, forKey: .activities)
        try container.encode(status, forKey: .status)
        try container.encode(afk, forKey: .afk)
    }
}

/// A user reference of which only `id` is guaranteed (as in PRESENCE_UPDATE).
public struct PartialUser: Sendable, Hashable, Codable {
    /// The user ID.
    public var id: Snowflake

    /// Creates a user reference.
    public init(id: Snowflake) {
        self.id = id
    }
}

/// A user's status per platform; a platform the user is not active on is nil.
public struct ClientStatus: Sendable, Hashable, Codable {
    /// Status on the desktop app.
    public var desktop: PresenceStatus?
    /// Status on mobile.
    public var mobile: PresenceStatus?
    /// Status on the web client.
    public var web: PresenceStatus?
    /// Status on a VR client.
    public var vr: PresenceStatus?

    /// Creates a per-platform status.
    public init(
        desktop: PresenceStatus? = nil, mobile: PresenceStatus? = nil, web: PresenceStatus? = nil,
        vr: PresenceStatus? = nil
    ) {
        self.desktop = desktop
        self.mobile = mobile
        self.web = web
        self.vr = vr
    }
}

/// A received presence: the PRESENCE_UPDATE body, and the entries of GUILD_CREATE's and
/// GUILD_MEMBERS_CHUNK's `presences`.
///
/// Discord does not validate these fields, so decoding is lenient: missing `activities` decode as
/// empty, and the activities are kept as raw ``JSONValue``s.
public struct PresencePayload: Sendable, Hashable, Codable {
    /// The user (only `id` is guaranteed).
    public var user: PartialUser
    /// The guild; absent in GUILD_CREATE's `presences`.
    public var guildID: Snowflake?
    /// The overall status.
    public var status: PresenceStatus
    /// The user's activities, untyped.
    public var activities: [JSONValue]
    /// The status per platform.
    public var clientStatus: ClientStatus?

    /// Creates a presence.
    public init(
        user: PartialUser, guildID: Snowflake? = nil, status: PresenceStatus, activities: [JSONValue] = [],
        clientStatus: ClientStatus? = nil
    ) {
        self.user = user
        self.guildID = guildID
        self.status = status
        self.activities = activities
        self.clientStatus = clientStatus
    }

    /// Wire keys.
    enum CodingKeys: String, CodingKey {
        case user
        case guildID = "guild_id"
        case status, activities
        case clientStatus = "client_status"
    }

    /// Decodes leniently (missing activities decode as empty).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.user = try container.decode(PartialUser.self, forKey: .user)
        self.guildID = try container.decodeIfPresent(Snowflake.self, forKey: .guildID)
        self.status = try container.decode(PresenceStatus.self, forKey: .status)
        self.activities = try container.decodeIfPresent([JSONValue].self, forKey: .activities) ?? []
        self.clientStatus = try container.decodeIfPresent(ClientStatus.self, forKey: .clientStatus)
    }
}
